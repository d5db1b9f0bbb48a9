"""Incremental reconciliation: windows of committed transactions, and the state a run carries forward.

- The append-only tables a run reads by window get `txid` (the transaction that
  wrote the row, `pg_current_xact_id()` by default) and a BRIN index on it: a
  few pages of summary, nearly free to keep as rows are appended in transaction
  order. Rows written before this revision have none (NULL): the first run
  after it is a full one, and its snapshot is the first watermark. The index is
  on the id as a bigint (PostgreSQL 15 has no BRIN operator class for xid8).
- `ledger.reconciliation_runs` keeps, with each run, its `mode` (`full` or
  `incremental`), its `watermark` (the snapshot of its repeatable-read
  transaction) and the totals it carries forward (`carried`), which the next
  incremental run starts from. Runs stored before this revision have none.
- `ledger.record_reconciliation_run(run_id, result, mode, watermark, carried)`:
  the gateway's runs store their state too, and are published as before.

No index is added to `scheme.batteries` (its updates stay heap-only, revision 0008).

Revision ID: 0015
"""

from infra.migrations.script import run_sql_script

revision = "0015"
down_revision = "0014"

WINDOWED = (
    "scheme.postings",
    "scheme.inbox",
    "scheme.refunds",
    "scheme.recoveries",
    "scheme.custody_history",
    "ledger.account_movements",
)


def _index_name(table: str) -> str:
    return f"{table.split('.')[1]}_txid_brin"


TXID_COLUMNS = "\n".join(
    f"""
DO $$
BEGIN
    IF to_regclass('{table}') IS NOT NULL THEN
        ALTER TABLE {table} ADD COLUMN IF NOT EXISTS txid xid8;
        ALTER TABLE {table} ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
        CREATE INDEX IF NOT EXISTS {_index_name(table)} ON {table} USING brin ((txid::text::bigint));
    END IF;
END $$;"""
    for table in WINDOWED
)

UPGRADE = (
    TXID_COLUMNS
    + r"""
ALTER TABLE ledger.reconciliation_runs
    ADD COLUMN IF NOT EXISTS mode text CHECK (mode IN ('full', 'incremental')),
    ADD COLUMN IF NOT EXISTS watermark pg_snapshot,
    ADD COLUMN IF NOT EXISTS carried jsonb;
CREATE INDEX IF NOT EXISTS reconciliation_runs_full_as_of ON ledger.reconciliation_runs (as_of)
    WHERE mode = 'full';

CREATE OR REPLACE FUNCTION ledger.record_reconciliation_run(run_id uuid, result jsonb, mode text,
                                                            watermark pg_snapshot, carried jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    IF result->>'status' NOT IN ('balanced', 'discrepancies') OR result->>'as_of' IS NULL THEN
        RAISE EXCEPTION 'a reconciliation result has a status (balanced or discrepancies) and an as_of';
    END IF;
    INSERT INTO ledger.reconciliation_runs (run_id, as_of, status, result, mode, watermark, carried)
    VALUES (run_id, (result->>'as_of')::timestamptz, result->>'status', result, mode, watermark, carried);
    INSERT INTO ledger.outbox (event_id, topic, key, value)
    VALUES (run_id, 'takeback.reconciliations', 'ledger', convert_to(jsonb_build_object(
        'event_id', run_id, 'type', 'reconciliation.completed', 'version', 1, 'occurred_at', result->'as_of',
        'source', jsonb_build_object('kind', 'scheme', 'id', 'ledger'),
        'data', jsonb_build_object('run_id', run_id) || result)::text, 'UTF8'));
END $$;
REVOKE ALL ON FUNCTION ledger.record_reconciliation_run(uuid, jsonb, text, pg_snapshot, jsonb) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'takeback_gateway') THEN
        GRANT EXECUTE ON FUNCTION ledger.record_reconciliation_run(uuid, jsonb, text, pg_snapshot, jsonb)
            TO takeback_gateway;
    END IF;
END $$;
"""
)

DOWNGRADE = (
    "\n".join(
        f"DROP INDEX IF EXISTS {table.split('.')[0]}.{_index_name(table)};\n"
        f"ALTER TABLE IF EXISTS {table} DROP COLUMN IF EXISTS txid;"
        for table in WINDOWED
    )
    + r"""
DROP FUNCTION IF EXISTS ledger.record_reconciliation_run(uuid, jsonb, text, pg_snapshot, jsonb);
DROP INDEX IF EXISTS ledger.reconciliation_runs_full_as_of;
ALTER TABLE ledger.reconciliation_runs DROP COLUMN IF EXISTS mode, DROP COLUMN IF EXISTS watermark,
    DROP COLUMN IF EXISTS carried;
"""
)


def upgrade() -> None:
    run_sql_script(UPGRADE)


def downgrade() -> None:
    run_sql_script(DOWNGRADE)
