"""Incremental reconciliation: a run reads what changed since a stored run's watermark, and says as much.

Each test stores its own starting run (a full one, after its XTS rows are in
place) and asks the next run to start from it (`since`), so a periodic run of
the ledger worker in between changes nothing here. Faults are injected after
the starting run: the incremental run must find and name them as a full run
does, or be full and say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg

from contracts.postings import entry_id_for
from services.common import db_roles
from services.common.db import create_pool
from services.gateway.adapters.reconciliation_runs import PostgresReconciliationRuns
from services.ledger.service_layer import post, reconcile, run_reconciliation
from tests.conftest import unique
from tests.integration.ledger_support import (  # noqa: F401  (clean: a fixture)
    TEST_CURRENCY,
    SoldBattery,
    ask,
    battery,
    check,
    clean,
    insert_refunded,
    insert_sold,
    named,
    request,
    untraced,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOTALS = (
    "lines",
    "movements",
    "entries",
    "refund_entries",
    "inbox",
    "rejected_without_reason",
    "refunds",
    "recovery_costs",
    "postings",
    "battery_totals",
    "sale_item_totals",
)


async def sold_and_posted(streams_pool, ledger_pool, refunded: bool = False) -> SoldBattery:
    sold = battery()
    async with streams_pool.acquire() as connection:
        await insert_sold(connection, sold)
        if refunded:
            await insert_refunded(connection, sold)
        await ask(connection, [sold.sale(), sold.refund()] if refunded else [sold.sale()])
    await post(ledger_pool, [sold.sale(), sold.refund()] if refunded else [sold.sale()])
    return sold


async def starting_run(ledger_pool) -> str:
    run_id, result = await run_reconciliation(ledger_pool, mode="full")
    assert result["scope"]["mode"] == "full" and result["scope"]["why_full"] == "a full run was asked for"
    return run_id


async def test_a_battery_changed_after_the_previous_run_is_found_by_an_incremental_run(
    pool, streams_pool, ledger_pool, clean
):
    sold = await sold_and_posted(streams_pool, ledger_pool)
    since = await starting_run(ledger_pool)

    await streams_pool.execute(
        "UPDATE scheme.batteries SET state = 'recycled' WHERE serial = $1", sold.serial
    )

    result = await reconcile(pool, since=since)
    assert (result["scope"]["mode"], result["scope"]["since_run_id"]) == ("incremental", str(since))
    assert sold.serial in named(result, "custody_consistent", "inconsistent", "serial")
    assert check(result, "deposit_liability")["details"]["difference"][TEST_CURRENCY] == sold.deposit
    assert result["status"] == "discrepancies"


async def test_a_refund_posted_twice_after_the_previous_run_stays_named_run_after_run(
    pool, streams_pool, ledger_pool, clean
):
    sold = await sold_and_posted(streams_pool, ledger_pool, refunded=True)
    since = await starting_run(ledger_pool)
    healthy = await reconcile(pool, since=since)
    assert healthy["scope"]["mode"] == "incremental"
    assert sold.serial not in named(healthy, "refunds_once", "refunded_twice", "serial")

    again = sold.refund(key=f"refund:{sold.serial}:retry-{unique('r')}")  # never asked for by the scheme
    await post(ledger_pool, [again])

    first_id, first = await run_reconciliation(ledger_pool)
    later = await reconcile(pool, since=first_id)  # the fault is older than this run's window: carried
    for result in (first, later):
        assert result["scope"]["mode"] == "incremental", result["scope"]
        assert sold.serial in named(result, "refunds_once", "refunded_twice", "serial")
        assert again.posting_key in named(result, "ledger_traced_to_scheme", "untraced", "posting_key")
        assert sold.centre_id in named(result, "centre_settlement", "differing", "centre_id")
        assert check(result, "deposit_liability")["details"]["difference"][TEST_CURRENCY] == -sold.deposit


async def test_an_entry_whose_lines_differ_posted_after_the_previous_run_is_named(
    pool, clean, streams_pool, ledger_pool
):
    since = await starting_run(ledger_pool)
    sold = battery()
    asked, posted = (
        sold.sale(),
        SoldBattery(sold.serial, sold.sale_id, sold.store_id, sold.centre_id, fee=900).sale(),
    )
    async with streams_pool.acquire() as connection:
        await ask(connection, [asked])
    await post(ledger_pool, [posted])

    result = await reconcile(pool, since=since)
    assert result["scope"]["mode"] == "incremental"
    assert {"posting_key": asked.posting_key, "problem": "lines_differ"}.items() <= untraced(
        result, asked.posting_key
    ).items()


async def test_a_posting_in_flight_is_carried_until_it_is_posted(pool, clean, streams_pool, ledger_pool):
    sold = battery()
    async with streams_pool.acquire() as connection:
        await insert_sold(connection, sold)
        await ask(connection, [sold.sale()])  # asked for, not posted: still on its way
    since, started = await run_reconciliation(ledger_pool, mode="full")
    asked_in = await pool.fetchval(
        "SELECT txid::text::bigint FROM scheme.postings WHERE posting_key = $1", sold.sale().posting_key
    )
    assert started.carried["unposted_from"] <= asked_in  # found again from the oldest in flight on

    waiting = await reconcile(pool, since=since)
    assert waiting["scope"]["mode"] == "incremental"
    assert check(waiting, "deposit_liability")["details"]["in_flight"][TEST_CURRENCY] == sold.deposit
    assert TEST_CURRENCY not in check(waiting, "deposit_liability")["details"]["difference"]

    await post(ledger_pool, [sold.sale()])
    arrived = await reconcile(pool, since=since)
    assert TEST_CURRENCY not in check(arrived, "deposit_liability")["details"]["in_flight"]
    assert TEST_CURRENCY not in check(arrived, "deposit_liability")["details"]["difference"]
    assert sold.sale().posting_key not in arrived.carried["unposted"]
    assert arrived.carried["unposted_from"] is None or arrived.carried["unposted_from"] > asked_in


async def test_totals_carried_forward_equal_a_full_runs(pool, clean, streams_pool, ledger_pool):
    await sold_and_posted(streams_pool, ledger_pool)
    since = await starting_run(ledger_pool)
    for refunded in (True, False, True):
        await sold_and_posted(streams_pool, ledger_pool, refunded=refunded)

    incremental = await reconcile(pool, since=since)
    full = await reconcile(pool, mode="full")
    assert incremental["scope"]["mode"] == "incremental"
    assert {key: incremental.carried[key] for key in TOTALS} == {key: full.carried[key] for key in TOTALS}
    outcomes = {c["name"]: (c["ok"], c["expected"], c["actual"]) for c in full["checks"]}
    assert {c["name"]: (c["ok"], c["expected"], c["actual"]) for c in incremental["checks"]} == outcomes
    assert (incremental["status"], len(incremental["checks"])) == (full["status"], len(full["checks"]))


async def test_a_chain_of_incremental_runs_agrees_with_a_full_run(pool, clean, streams_pool, ledger_pool):
    """Batteries and sale items changed in place (sold, released, refunded, cancelled) between runs: each
    run adds the changes recorded in its window; the last one's totals and checks are a full run's."""
    kept, cancelled = [await sold_and_posted(streams_pool, ledger_pool) for _ in range(2)]
    previous = await starting_run(ledger_pool)
    await streams_pool.execute(
        "UPDATE scheme.batteries SET deposit_released = true WHERE serial = $1", kept.serial
    )
    previous, _ = await run_reconciliation(ledger_pool)
    await sold_and_posted(streams_pool, ledger_pool, refunded=True)
    run_id, chained = await run_reconciliation(ledger_pool)
    assert chained["scope"]["since_run_id"] == str(previous)
    async with streams_pool.acquire() as connection:  # cancelled behind the scheme's back: no custody record
        await connection.execute(
            "UPDATE scheme.sale_items SET status = 'cancelled' WHERE serial = $1", cancelled.serial
        )
        await connection.execute(
            "UPDATE scheme.batteries SET state = 'cancelled' WHERE serial = $1", cancelled.serial
        )

    incremental = await reconcile(pool, since=run_id)
    full = await reconcile(pool, mode="full")
    assert incremental["scope"]["mode"] == "incremental", incremental["scope"]
    assert {key: incremental.carried[key] for key in TOTALS} == {key: full.carried[key] for key in TOTALS}
    outcomes = {c["name"]: (c["ok"], c["expected"], c["actual"]) for c in full["checks"]}
    assert {c["name"]: (c["ok"], c["expected"], c["actual"]) for c in incremental["checks"]} == outcomes
    for result in (incremental, full):
        assert cancelled.serial in named(result, "custody_consistent", "inconsistent", "serial")
        assert kept.serial not in named(result, "custody_consistent", "inconsistent", "serial")
        liability = check(result, "deposit_liability")["details"]["difference"]
        assert liability[TEST_CURRENCY] == kept.deposit + cancelled.deposit
        assert check(result, "unclaimed_reserve")["details"]["difference"][TEST_CURRENCY] == -kept.deposit
        assert cancelled.store_id in named(result, "store_settlement", "differing", "store_id")
        assert check(result, "recycling_fund")["details"]["difference"][TEST_CURRENCY] == cancelled.fee


async def test_custody_and_refund_faults_of_the_window_are_named_as_a_full_run_names_them(
    pool, streams_pool, ledger_pool, clean
):
    """A custody record after a battery's last; a refund entry of another amount than the deposit; a refunded
    battery's deposit charged rewritten: each named alike by an incremental and a full run."""
    extra, refunded = await sold_and_posted(streams_pool, ledger_pool), battery()
    rewritten = await sold_and_posted(streams_pool, ledger_pool, refunded=True)
    since = await starting_run(ledger_pool)
    async with streams_pool.acquire() as connection:
        await connection.execute(
            "INSERT INTO scheme.custody_history VALUES ($1, 2, now(), $2, 'collection.logged', 'customer',"
            " 'c-1', 'return_centre', 'rc-1', 'collected')",
            extra.serial,
            uuid.uuid4(),
        )
        await insert_sold(connection, refunded)
        await insert_refunded(connection, refunded)
        await connection.execute(
            "UPDATE scheme.batteries SET deposit_charged = deposit_charged + 1 WHERE serial = $1",
            rewritten.serial,
        )
    amount = refunded.deposit - 1
    short = request(
        f"refund:{refunded.serial}",
        "refund",
        refunded.serial,
        [("liability:deposits", amount, 0), (f"clearing:centre:{refunded.centre_id}", 0, amount)],
    )
    await post(ledger_pool, [refunded.sale(), short])

    incremental = await reconcile(pool, since=since)
    full = await reconcile(pool, mode="full")
    assert incremental["scope"]["mode"] == "incremental", incremental["scope"]
    for result in (incremental, full):
        after = check(result, "custody_consistent")["details"]["inconsistent"]["items"]
        assert {"serial": extra.serial, "records_after_last": True}.items() <= next(
            item for item in after if item["serial"] == extra.serial
        ).items()
        wrong = named(result, "refunds_once", "amount_not_deposit_charged", "serial")
        assert refunded.serial in wrong and rewritten.serial in wrong
    assert check(incremental, "refunds_once") == check(full, "refunds_once")


async def test_a_battery_rewritten_with_the_other_triggers_off_is_still_recorded(
    pool, streams_pool, ledger_pool, superuser_url, clean
):
    sold = await sold_and_posted(streams_pool, ledger_pool)
    since = await starting_run(ledger_pool)

    tamper = await asyncpg.connect(superuser_url)
    try:
        async with tamper.transaction():
            await tamper.execute("SET LOCAL session_replication_role = replica")
            await tamper.execute(
                "UPDATE scheme.batteries SET state = 'recycled' WHERE serial = $1", sold.serial
            )
    finally:
        await tamper.close()

    result = await reconcile(pool, since=since)
    assert result["scope"]["mode"] == "incremental", result["scope"]
    assert sold.serial in named(result, "custody_consistent", "inconsistent", "serial")
    assert check(result, "deposit_liability")["details"]["difference"][TEST_CURRENCY] == sold.deposit


async def test_a_trigger_recording_changes_disabled_then_enabled_makes_the_next_run_full(
    pool, streams_pool, ledger_pool, superuser_url, clean
):
    sold = await sold_and_posted(streams_pool, ledger_pool)
    since = await starting_run(ledger_pool)

    tamper = await asyncpg.connect(superuser_url)  # a change no delta records, the trigger back as it was
    try:
        async with tamper.transaction():
            await tamper.execute("ALTER TABLE scheme.batteries DISABLE TRIGGER batteries_deltas_update")
            await tamper.execute(
                "UPDATE scheme.batteries SET state = 'recycled' WHERE serial = $1", sold.serial
            )
            await tamper.execute("ALTER TABLE scheme.batteries ENABLE ALWAYS TRIGGER batteries_deltas_update")
    finally:
        await tamper.close()

    result = await reconcile(pool, since=since)
    assert result["scope"]["mode"] == "full"
    assert (
        "a trigger recording the changes of batteries or sale items was altered"
        in result["scope"]["why_full"]
    )
    assert sold.serial in named(result, "custody_consistent", "inconsistent", "serial")


async def test_an_entry_removed_after_the_previous_run_makes_the_next_run_full_and_named(
    pool, streams_pool, ledger_pool, superuser_url, clean
):
    sold = await sold_and_posted(streams_pool, ledger_pool)
    since = await starting_run(ledger_pool)

    tamper = await asyncpg.connect(superuser_url)  # a window cannot see a row that is gone
    try:
        async with tamper.transaction():
            await tamper.execute("SET LOCAL session_replication_role = replica")
            await tamper.execute(
                "DELETE FROM ledger.entries WHERE entry_id = $1", entry_id_for(sold.sale().posting_key)
            )
    finally:
        await tamper.close()

    result = await reconcile(pool, since=since)
    assert result["scope"]["mode"] == "full"
    assert "ledger.entries" in result["scope"]["why_full"] and "deleted (1)" in result["scope"]["why_full"]
    assert sold.sale().posting_key in named(
        result, "scheme_postings_in_ledger", "removed_from_ledger", "posting_key"
    )

    full_id, _ = await run_reconciliation(ledger_pool)  # full too (the same trace), and stored
    after = await reconcile(pool, since=full_id)  # no new trace: incremental, the removed entry still named
    assert after["scope"]["mode"] == "incremental", after["scope"]
    assert sold.sale().posting_key in named(
        after, "scheme_postings_in_ledger", "removed_from_ledger", "posting_key"
    )
    assert f"clearing:store:{sold.store_id}" in named(
        after, "movements_match_lines", "accounts_differing", "account"
    )


async def test_the_periodic_run_is_full_once_the_last_full_run_is_older_than_the_interval(ledger_pool):
    await run_reconciliation(ledger_pool, mode="full")
    _, soon = await run_reconciliation(ledger_pool)
    assert soon["scope"]["mode"] == "incremental", soon["scope"]
    await asyncio.sleep(1.0)
    _, due = await run_reconciliation(ledger_pool, full_interval_s=0.5)
    assert due["scope"]["mode"] == "full"
    assert (
        due["scope"]["why_full"] == "the last full run is older than 0.5 s (the interval between full runs)"
    )
    assert due["scope"]["last_full_as_of"] == due["as_of"]


async def test_a_run_made_for_the_gateway_is_stored_with_its_watermark(pool, settings):
    gateway_pool = await create_pool(settings.database_url_as(db_roles.GATEWAY), max_size=1)
    try:
        result = await reconcile(pool)
        run_id = uuid.uuid4()
        await PostgresReconciliationRuns(gateway_pool).store(run_id, result)
    finally:
        await gateway_pool.close()
    stored = await pool.fetchrow(
        "SELECT mode, watermark::text AS watermark, carried, result "
        "FROM ledger.reconciliation_runs WHERE run_id = $1",
        run_id,
    )
    assert (stored["mode"], stored["watermark"]) == (result.mode, result.watermark)
    assert stored["carried"]["lines"] == result.carried["lines"] and "carried" not in stored["result"]
    assert stored["result"]["scope"] == result["scope"]


def takeback(*arguments: str) -> subprocess.CompletedProcess:
    command = Path(sys.executable).with_name("takeback")  # the installed command line
    return subprocess.run(
        [str(command), *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False
    )


async def test_the_command_line_makes_a_full_run_when_asked(ledger_pool):
    await run_reconciliation(ledger_pool, mode="full")
    full = json.loads(takeback("report", "reconciliation", "--full", "--json").stdout)
    assert (full["scope"]["mode"], full["scope"]["why_full"]) == ("full", "a full run was asked for")
    assert full["checks"] and all(isinstance(c["ok"], bool) for c in full["checks"])
    latest = json.loads(takeback("report", "reconciliation", "--json").stdout)  # from the run stored above
    assert (latest["scope"]["mode"], latest["scope"]["why_full"]) == ("incremental", None)
    assert [c["name"] for c in latest["checks"]] == [c["name"] for c in full["checks"]]


async def test_every_block_range_index_is_summarized_as_its_ranges_fill(pool):
    """A window reads its rows by the BRIN index on their transaction id; a range nobody summarized is read
    whole by every window (revision 0027: at 1,000,000 batteries, 541,628 rows of the custody history thrown
    away by one window of 1,017 events). Every BRIN index of the two schemas, present and to come, asks
    autovacuum to summarize each range once the next one starts."""
    indexes = await pool.fetch(
        """SELECT n.nspname || '.' || c.relname AS name, coalesce(c.reloptions, '{}') AS options
             FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid
             JOIN pg_am a ON a.oid = c.relam
             JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE a.amname = 'brin' AND n.nspname IN ('scheme', 'ledger')"""
    )
    names = {row["name"] for row in indexes}
    assert {"scheme.custody_history_txid_brin", "ledger.entries_txid_brin", "scheme.inbox_txid_brin"} <= names
    assert [row["name"] for row in indexes if "autosummarize=on" not in row["options"]] == []


class RecordingPool:
    """A pool whose connections note the arguments of every statement they run."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool, self.arguments = pool, []

    @contextlib.asynccontextmanager
    async def acquire(self):
        async with self.pool.acquire() as connection:
            yield _Recording(connection, self.arguments)


class _Recording:
    def __init__(self, connection: asyncpg.Connection, arguments: list) -> None:
        self._connection, self._arguments = connection, arguments

    def __getattr__(self, name: str):
        attribute = getattr(self._connection, name)
        if name not in ("execute", "fetch", "fetchrow", "fetchval"):
            return attribute

        async def noted(query, *args, **options):
            self._arguments.extend(args)
            return await attribute(query, *args, **options)

        return noted


async def test_an_incremental_run_keeps_its_windows_keys_in_the_database(
    pool, streams_pool, ledger_pool, clean
):
    """The window's serials and collections are read by the statements that check them: sent back as a
    parameter, a window of 660,901 batteries took the database session to 276 MB (the message, and the
    planning of `= ANY` element by element). Only the keys the previous run named travel."""
    since = await starting_run(ledger_pool)
    window = [await sold_and_posted(streams_pool, ledger_pool, refunded=True) for _ in range(12)]
    recording = RecordingPool(pool)

    incremental = await reconcile(recording, since=since)
    full = await reconcile(pool, mode="full")
    assert incremental["scope"]["mode"] == "incremental", incremental["scope"]
    assert check(incremental, "custody_consistent")["details"]["batteries_checked"] == len(window)
    sent = {str(key) for argument in recording.arguments if isinstance(argument, list) for key in argument}
    assert recording.arguments and sent.isdisjoint(sold.serial for sold in window), sent
    outcomes = {c["name"]: (c["ok"], c["expected"], c["actual"]) for c in full["checks"]}
    assert {c["name"]: (c["ok"], c["expected"], c["actual"]) for c in incremental["checks"]} == outcomes
