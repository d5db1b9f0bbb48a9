"""One database role per service, least privilege (revision 0011), tried against the real database.

For every role, every statement it must not run is refused with `permission denied` (or, for a
sale, by the trigger that refuses any update of one), and the statements its service runs are
allowed. Each statement runs in a transaction that is rolled back, so one wrongly allowed would
change nothing. The whole suite, run with each service on its own role, shows the rest.
"""

from __future__ import annotations

import os
import stat

import asyncpg
import pytest

from services.common import db_roles
from services.common.db_roles import GATEWAY, LEDGER, OWNER, READER, STREAMS

SERVICES = (STREAMS, LEDGER, GATEWAY)
NOT_OWNER = (*SERVICES, READER)

# Written once, for money or as evidence: no role but the owner may change or remove a row (table, a column).
WRITTEN_ONCE = {
    "scheme.inbox": "outcome",
    "scheme.refunds": "amount",
    "scheme.postings": "lines",
    "scheme.input_offsets": "last_offset",
    "scheme.outbox": "value",
    "scheme.outbox_parked": "reason",
    "scheme.collections": "outcome",
    "scheme.recoveries": "cost",
    "scheme.recovered_materials": "mass_kg",
    "scheme.custody_history": "state",
    "scheme.discrepancies": "details",
    "scheme.sales": "store_id",
    "scheme.late_sales": "outcome",
    "scheme.repurposings": "operator_id",
    "ledger.entries": "kind",
    "ledger.account_movements": "debit",
    "ledger.unpostable": "error",
    "ledger.outbox": "value",
    "ledger.outbox_parked": "reason",
    "ledger.reconciliation_runs": "status",
}
# State the streams keep in place: updated by the streams alone, removed by no one.
STREAMS_STATE = {
    "scheme.batteries": "state",
    "scheme.sale_items": "status",
    "scheme.lots": "status",
    "scheme.lot_items": "received",
    "scheme.terms": "deposit",
}
JOURNAL = (
    "ledger.entries",
    "ledger.account_movements",
    "ledger.unpostable",
    "ledger.reconciliation_runs",
    "ledger.outbox",
    "ledger.outbox_parked",
)
# The journal's lines: a view of the entries' arrays (revision 0014), read like the rest, written by no one.
VIEWS = ("ledger.lines",)
READABLE = (*WRITTEN_ONCE, *VIEWS, *STREAMS_STATE, "scheme.outbox_relay", "ledger.outbox_relay")
# By grants; by the schema's ownership (DDL); by the trigger that refuses any update of a sale.
REFUSALS = ("permission denied", "must be owner", "never updated")  # sales and repurposings: a trigger


def _forbidden() -> list[tuple[str, str]]:
    cases: list[tuple[str, str]] = []

    def refuse(roles, *statements):
        cases.extend((role, sql) for role in roles for sql in statements)

    for table, column in WRITTEN_ONCE.items():
        refuse(
            NOT_OWNER,
            f"UPDATE {table} SET {column} = {column} WHERE false",
            f"DELETE FROM {table} WHERE false",
            f"TRUNCATE {table}",
        )
    for table, column in STREAMS_STATE.items():
        refuse(NOT_OWNER, f"DELETE FROM {table} WHERE false", f"TRUNCATE {table}")
        refuse(
            (LEDGER, GATEWAY, READER),
            f"UPDATE {table} SET {column} = {column} WHERE false",
            f"INSERT INTO {table} SELECT * FROM {table} WHERE false",
        )
    refuse(
        (STREAMS,),
        "UPDATE scheme.batteries SET serial = serial WHERE false",  # its key: never
        "UPDATE scheme.sale_items SET deposit = 0 WHERE false",
        "UPDATE scheme.lots SET centre_id = '' WHERE false",
    )
    # Adding to the scheme's records is the streams' alone; to the journal the ledger's alone.
    for table in (
        "scheme.inbox",
        "scheme.refunds",
        "scheme.postings",
        "scheme.input_offsets",
        "scheme.outbox",
        "scheme.collections",
        "scheme.sales",
        "scheme.custody_history",
        "scheme.late_sales",
        "scheme.repurposings",
    ):
        refuse((LEDGER, GATEWAY, READER), f"INSERT INTO {table} SELECT * FROM {table} WHERE false")
    for table in JOURNAL:
        roles = (STREAMS, READER) if table == "ledger.reconciliation_runs" else (STREAMS, GATEWAY, READER)
        refuse(roles, f"INSERT INTO {table} SELECT * FROM {table} WHERE false")
    # Each relay's cursor and pruning belong to its own service.
    refuse(
        (LEDGER, GATEWAY, READER),
        "UPDATE scheme.outbox_relay SET after_seq = after_seq",
        "SELECT scheme.prune_outbox(interval '100 years')",
    )
    refuse(
        (STREAMS, GATEWAY, READER),
        "UPDATE ledger.outbox_relay SET after_seq = after_seq",
        "SELECT ledger.prune_outbox(interval '100 years')",
    )
    # API keys: made and revoked by the owner alone; a revocation is never undone; the gateway only reads
    # them.
    refuse(
        NOT_OWNER,
        "UPDATE gateway.api_keys SET revoked_at = NULL WHERE false",
        "UPDATE gateway.api_keys SET revoked_at = now() WHERE false",
        "DELETE FROM gateway.api_keys WHERE false",
        "INSERT INTO gateway.api_keys (key_id, salt, secret_hash, source_kind, source_id, role) "
        "VALUES ('0123456789abcdef', '\\x00', '\\x00', 'pos', 'x', 'producer')",
    )
    refuse((STREAMS, LEDGER, READER), "SELECT count(*) FROM gateway.api_keys")
    # Signing keys: secrets the streams read and the owner manages.
    refuse((LEDGER, GATEWAY, READER), "SELECT count(*) FROM scheme.signing_keys")
    refuse(
        NOT_OWNER,
        "UPDATE scheme.signing_keys SET revoked_at = NULL WHERE false",
        "DELETE FROM scheme.signing_keys WHERE false",
        "INSERT INTO scheme.signing_keys (signer_kind, signer_id, secret) VALUES ('pos', 'x', 'y')",
    )
    refuse((STREAMS,), "SELECT count(*) FROM ledger.lines", "SELECT count(*) FROM ledger.entries")
    # The schema is the owner's.
    refuse(
        NOT_OWNER,
        "DROP TABLE scheme.inbox",
        "ALTER TABLE scheme.refunds ADD COLUMN x int",
        "ALTER TABLE ledger.entries DISABLE TRIGGER USER",
        "ALTER TABLE ledger.entries DROP CONSTRAINT entries_lines_valid",
        "DROP VIEW ledger.lines",
        "CREATE TABLE scheme.x (x int)",
        "CREATE TABLE public.x (x int)",
        "CREATE FUNCTION scheme.x() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    )
    return cases


ALLOWED = [
    *(
        (STREAMS, f"SELECT 1 FROM {table} WHERE false FOR UPDATE")
        for table in ("scheme.sales", "scheme.lots", "scheme.batteries")
    ),
    *(
        (STREAMS, f"UPDATE {table} SET {column} = {column} WHERE false")
        for table, column in STREAMS_STATE.items()
    ),
    *(
        (STREAMS, f"INSERT INTO {table} SELECT * FROM {table} WHERE false")
        for table in (
            "scheme.inbox",
            "scheme.refunds",
            "scheme.postings",
            "scheme.input_offsets",
            "scheme.outbox",
            "scheme.outbox_parked",
            "scheme.batteries",
            "scheme.custody_history",
            "scheme.discrepancies",
            "scheme.repurposings",
        )
    ),
    (STREAMS, "UPDATE scheme.outbox_relay SET after_seq = after_seq"),
    (STREAMS, "SELECT scheme.prune_outbox(interval '100 years')"),
    (STREAMS, "SELECT count(*) FROM scheme.signing_keys"),
    *((LEDGER, f"INSERT INTO {table} SELECT * FROM {table} WHERE false") for table in JOURNAL),
    (LEDGER, "UPDATE ledger.outbox_relay SET after_seq = after_seq"),
    (LEDGER, "SELECT ledger.prune_outbox(interval '100 years')"),
    (GATEWAY, "SELECT count(*) FROM gateway.api_keys"),
    # The latest entries are found by the journal's sequence (the gateway's posting latency, revision 0014).
    *(
        (role, "SELECT pg_sequence_last_value('ledger.entries_seq_seq')")
        for role in (LEDGER, GATEWAY, READER)
    ),
    (GATEWAY, "INSERT INTO ledger.reconciliation_runs SELECT * FROM ledger.reconciliation_runs WHERE false"),
    *((role, f"SELECT count(*) FROM {table}") for role in (LEDGER, GATEWAY, READER) for table in READABLE),
    *(
        (STREAMS, f"SELECT count(*) FROM {table}")
        for table in (
            "scheme.outbox_relay",
            "ledger.outbox",
            "ledger.outbox_relay",
            "ledger.outbox_parked",
            "ledger.reconciliation_runs",
        )
    ),
    (OWNER, "UPDATE gateway.api_keys SET revoked_at = now() WHERE false"),
    (OWNER, "INSERT INTO gateway.api_keys SELECT * FROM gateway.api_keys WHERE false"),
]


@pytest.fixture(scope="module")
async def connections(stack, settings):
    opened = {role: await asyncpg.connect(settings.database_url_as(role)) for role in (*NOT_OWNER, OWNER)}
    yield opened
    for connection in opened.values():
        await connection.close()


async def attempt(connection: asyncpg.Connection, sql: str) -> None:
    """Run `sql` in a transaction that is always rolled back."""
    transaction = connection.transaction()
    await transaction.start()
    try:
        await connection.execute(sql)
    finally:
        await transaction.rollback()


@pytest.mark.parametrize(("role", "sql"), _forbidden(), ids=lambda value: value)
async def test_each_role_is_refused_what_its_service_does_not_do(connections, role, sql):
    with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
        await attempt(connections[role], sql)
    assert any(reason in str(refused.value) for reason in REFUSALS), refused.value


@pytest.mark.parametrize(("role", "sql"), ALLOWED, ids=lambda value: value)
async def test_each_role_may_do_what_its_service_does(connections, role, sql):
    await attempt(connections[role], sql)


@pytest.mark.parametrize("role", [*NOT_OWNER, OWNER])
@pytest.mark.parametrize("view", VIEWS)
async def test_no_role_writes_to_a_view_of_the_journal(connections, role, view):
    for sql in (
        f"INSERT INTO {view} SELECT * FROM {view} WHERE false",
        f"UPDATE {view} SET debit = debit WHERE false",
        f"DELETE FROM {view} WHERE false",
        f"TRUNCATE {view}",
    ):
        with pytest.raises(
            (
                asyncpg.InsufficientPrivilegeError,
                asyncpg.ObjectNotInPrerequisiteStateError,
                asyncpg.WrongObjectTypeError,
            )
        ):
            await attempt(connections[role], sql)


async def test_a_sale_cannot_be_updated_even_by_the_streams_which_may_lock_it(connections):
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="never updated"):
        await attempt(connections[STREAMS], "UPDATE scheme.sales SET event_id = event_id WHERE false")


async def test_each_running_service_connects_as_its_own_role(stack, superuser_url):
    admin = await asyncpg.connect(superuser_url)
    try:
        users = {
            row["usename"]
            for row in await admin.fetch(
                "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database()"
            )
        }
    finally:
        await admin.close()
    assert set(SERVICES) <= users
    assert db_roles.LEGACY not in users


async def test_the_shared_role_of_earlier_versions_keeps_no_privilege(stack, settings, superuser_url):
    admin = await asyncpg.connect(superuser_url)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", db_roles.LEGACY):
            pytest.skip("this database was made after revision 0011: no shared role to check")
    finally:
        await admin.close()
    legacy = await asyncpg.connect(settings.database_url_as(db_roles.LEGACY))
    try:
        for sql in (
            "SELECT count(*) FROM scheme.batteries",
            "UPDATE scheme.refunds SET amount = 1 WHERE false",
            "UPDATE gateway.api_keys SET revoked_at = NULL WHERE false",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await attempt(legacy, sql)
    finally:
        await legacy.close()


@pytest.mark.parametrize("role", [*NOT_OWNER, OWNER, db_roles.LEGACY])
async def test_no_role_answers_to_a_default_password(stack, settings, role):
    with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
        await asyncpg.connect(db_roles.with_role(settings.database_url, role, role))


def test_the_passwords_are_kept_with_mode_600_and_a_passfile_lists_them(stack, settings):
    secrets = settings.state_dir / "secrets"
    assert stat.S_IMODE(os.stat(secrets).st_mode) == 0o700
    for role in (*NOT_OWNER, OWNER):
        path = db_roles.password_file(settings.state_dir, role)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
        assert path.read_text().strip() != role
    passfile = secrets / "pgpass"
    assert stat.S_IMODE(os.stat(passfile).st_mode) == 0o600
    assert {line.split(":")[3] for line in passfile.read_text().splitlines()} >= {*NOT_OWNER, OWNER}


async def test_a_url_without_a_password_finds_it_in_the_secrets_and_psql_in_the_passfile(stack, settings):
    bare = db_roles.with_role(settings.database_url, READER, None)
    assert db_roles.filled(bare, settings.state_dir) == settings.database_url_as(READER)
    connection = await asyncpg.connect(bare, passfile=str(settings.state_dir / "secrets" / "pgpass"))
    try:
        assert await connection.fetchval("SELECT current_user") == READER
    finally:
        await connection.close()
