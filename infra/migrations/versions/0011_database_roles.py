"""One database role per service, each with only what it needs; what was written for money is never changed.

Before, one role (`takeback`) served the gateway, the streams and the ledger,
and could update refunds, batteries and API keys. Now:

- `takeback_streams` applies events: it reads the scheme, adds to it, and updates
  in place only the state rows it keeps (batteries, a sale's items' status, lots
  and their items, terms) and its relay's cursor. It may lock a sale (`FOR
  UPDATE` needs an UPDATE grant) but a trigger refuses any UPDATE of a sale.
- `takeback_ledger` posts: it reads the scheme and the ledger, adds journal
  entries, lines, movements, unpostable messages, reconciliation runs and its
  outbox, and updates only its relay's cursor.
- `takeback_gateway` reads: API keys (to check them), the battery view, balances,
  reports, reconciliation runs; it adds the reconciliation runs finance asks for.
- `takeback_reader` reads the scheme and the ledger, for the command line's
  reports and for operators: not API keys, not signing keys.
- the owner (who runs this) keeps everything else: migrations, and making and
  revoking API keys and signing keys.

No role but the owner may UPDATE, DELETE or TRUNCATE the inbox, refunds,
postings, input offsets, collections, recoveries, custody history,
discrepancies, outboxes, the journal, unpostable messages, reconciliation runs
or API keys; published outbox rows still go through `{schema}.prune_outbox`
(SECURITY DEFINER, revision 0009), which each relay's role may call for its own.
The shared role `takeback` of earlier revisions keeps no privilege at all.

Roles are made by whoever may make roles (`takeback up` on its local cluster,
`infra/compose/postgres-init.sql` for compose); each grant here applies only
to roles that exist, and every role's privileges are first revoked whole, so a
database upgraded from an earlier revision ends with exactly these.

Revision ID: 0011
"""

from infra.migrations.script import run_sql_script

revision = "0011"
down_revision = "0010"

STREAMS, LEDGER, GATEWAY, READER, LEGACY = (
    "takeback_streams",
    "takeback_ledger",
    "takeback_gateway",
    "takeback_reader",
    "takeback",
)

SCHEME_TABLES = (
    "inbox",
    "terms",
    "sales",
    "sale_items",
    "batteries",
    "custody_history",
    "collections",
    "refunds",
    "lots",
    "lot_items",
    "recoveries",
    "recovered_materials",
    "discrepancies",
    "postings",
    "outbox",
    "outbox_relay",
    "outbox_parked",
    "input_offsets",
)  # not signing_keys: secrets, read by the streams alone
LEDGER_TABLES = (
    "entries",
    "lines",
    "account_movements",
    "outbox",
    "outbox_relay",
    "outbox_parked",
    "reconciliation_runs",
    "unpostable",
)
# What every process's health report reads (services/common/health_report.py): both relays, the last run.
HEALTH_TABLES = tuple(
    f"{s}.{t}" for s in ("scheme", "ledger") for t in ("outbox", "outbox_relay", "outbox_parked")
) + ("ledger.reconciliation_runs",)

READ_ALL = tuple(f"scheme.{t}" for t in SCHEME_TABLES) + tuple(f"ledger.{t}" for t in LEDGER_TABLES)

# The battery's key is referenced by its custody history: every other column is state the streams keep.
BATTERY_STATE = (
    "state",
    "contract",
    "sku",
    "category",
    "chemistry",
    "mass_kg",
    "currency",
    "deposit_charged",
    "recycling_fee",
    "deposit_refunded",
    "sale_id",
    "store_id",
    "sold_at",
    "custodian_kind",
    "custodian_id",
    "lot_id",
    "collected_at",
    "history_length",
)

GRANTS = {
    STREAMS: f"""
        GRANT USAGE ON SCHEMA scheme, ledger TO {STREAMS};
        GRANT SELECT ON {", ".join(f"scheme.{t}" for t in SCHEME_TABLES)}, scheme.signing_keys TO {STREAMS};
        GRANT SELECT ON {", ".join(HEALTH_TABLES)} TO {STREAMS};
        GRANT INSERT ON {", ".join(f"scheme.{t}" for t in SCHEME_TABLES if t != "outbox_relay")} TO {STREAMS};
        GRANT UPDATE ({", ".join(BATTERY_STATE)}) ON scheme.batteries TO {STREAMS};
        GRANT UPDATE (status) ON scheme.sale_items TO {STREAMS};
        GRANT UPDATE (status, received_mass_kg, received_at) ON scheme.lots TO {STREAMS};
        GRANT UPDATE (received) ON scheme.lot_items TO {STREAMS};
        GRANT UPDATE (deposit, recycling_fee, event_id) ON scheme.terms TO {STREAMS};
        -- to lock a sale FOR UPDATE; the trigger refuses
        GRANT UPDATE (event_id) ON scheme.sales TO {STREAMS};
        GRANT UPDATE ON scheme.outbox_relay TO {STREAMS};
        GRANT USAGE ON SEQUENCE scheme.outbox_seq_seq TO {STREAMS};
        GRANT EXECUTE ON FUNCTION scheme.prune_outbox(interval) TO {STREAMS};
    """,
    LEDGER: f"""
        GRANT USAGE ON SCHEMA scheme, ledger TO {LEDGER};
        GRANT SELECT ON {", ".join(READ_ALL)} TO {LEDGER};
        GRANT INSERT ON ledger.entries, ledger.lines, ledger.account_movements, ledger.unpostable,
            ledger.reconciliation_runs, ledger.outbox, ledger.outbox_parked TO {LEDGER};
        GRANT UPDATE ON ledger.outbox_relay TO {LEDGER};
        GRANT USAGE ON SEQUENCE ledger.entries_seq_seq, ledger.outbox_seq_seq, ledger.unpostable_seq_seq
            TO {LEDGER};
        GRANT EXECUTE ON FUNCTION ledger.prune_outbox(interval) TO {LEDGER};
    """,
    GATEWAY: f"""
        GRANT USAGE ON SCHEMA scheme, ledger, gateway TO {GATEWAY};
        GRANT SELECT ON {", ".join(READ_ALL)} TO {GATEWAY};
        GRANT SELECT ON gateway.api_keys TO {GATEWAY};
        GRANT INSERT ON ledger.reconciliation_runs TO {GATEWAY};  -- the runs finance asks for, queued in it
    """,
    READER: f"""
        GRANT USAGE ON SCHEMA scheme, ledger TO {READER};
        GRANT SELECT ON {", ".join(READ_ALL)} TO {READER};
    """,
    LEGACY: "",
}

REVOKE = """
        REVOKE ALL ON ALL TABLES IN SCHEMA scheme, ledger, gateway FROM {role};
        REVOKE ALL ON ALL SEQUENCES IN SCHEMA scheme, ledger, gateway FROM {role};
        REVOKE ALL ON ALL FUNCTIONS IN SCHEMA scheme, ledger, gateway FROM {role};
        REVOKE ALL ON SCHEMA scheme, ledger, gateway FROM {role};
"""

SALES_NEVER_UPDATED = r"""
CREATE OR REPLACE FUNCTION scheme.never_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rows of % are written once and never updated (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE OR REPLACE TRIGGER sales_never_updated BEFORE UPDATE ON scheme.sales
    FOR EACH STATEMENT EXECUTE FUNCTION scheme.never_updated();
"""

# The grants of revisions 0003 to 0010, for a downgrade.
LEGACY_GRANTS = f"""
        GRANT USAGE ON SCHEMA scheme, ledger, gateway TO {LEGACY};
        GRANT SELECT, INSERT, UPDATE ON {", ".join(f"scheme.{t}" for t in SCHEME_TABLES)} TO {LEGACY};
        REVOKE UPDATE ON scheme.outbox, scheme.input_offsets FROM {LEGACY};
        GRANT SELECT ON scheme.signing_keys TO {LEGACY};
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA scheme, ledger TO {LEGACY};
        GRANT SELECT, INSERT ON ledger.entries, ledger.lines, ledger.account_movements, ledger.unpostable,
            ledger.outbox, ledger.outbox_parked TO {LEGACY};
        GRANT SELECT, INSERT, UPDATE ON ledger.reconciliation_runs, ledger.outbox_relay TO {LEGACY};
        GRANT SELECT, INSERT ON gateway.api_keys TO {LEGACY};
        GRANT UPDATE (revoked_at) ON gateway.api_keys TO {LEGACY};
        GRANT EXECUTE ON FUNCTION scheme.prune_outbox(interval), ledger.prune_outbox(interval) TO {LEGACY};
"""


def for_role(role: str, statements: str) -> str:
    """`statements`, run only if `role` exists and is not the one migrating."""
    return f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') AND current_user <> '{role}' THEN
{statements}
    END IF;
END $$;
"""


def upgrade() -> None:
    run_sql_script(SALES_NEVER_UPDATED)
    for role, grants in GRANTS.items():
        run_sql_script(for_role(role, REVOKE.format(role=role) + grants))


def downgrade() -> None:
    run_sql_script(
        "DROP TRIGGER IF EXISTS sales_never_updated ON scheme.sales; "
        "DROP FUNCTION IF EXISTS scheme.never_updated();"
    )
    for role in GRANTS:
        run_sql_script(for_role(role, REVOKE.format(role=role)))
    run_sql_script(for_role(LEGACY, LEGACY_GRANTS))
