"""A reconciliation run finance asks for over HTTP is published too, as the ledger's periodic runs are.

`ledger.record_reconciliation_run(run_id, result)` stores the run and writes its
`reconciliation.completed` into the ledger's outbox, in one transaction, as the
owner (SECURITY DEFINER). The gateway's role may call it: it can publish a
reconciliation result on `takeback.reconciliations` under key `ledger`, and
nothing else on any topic (it has no grant on the outbox itself).

Revision ID: 0013
"""

from infra.migrations.script import run_sql_script

revision = "0013"
down_revision = "0012"

UPGRADE = r"""
CREATE OR REPLACE FUNCTION ledger.record_reconciliation_run(run_id uuid, result jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    IF result->>'status' NOT IN ('balanced', 'discrepancies') OR result->>'as_of' IS NULL THEN
        RAISE EXCEPTION 'a reconciliation result has a status (balanced or discrepancies) and an as_of';
    END IF;
    INSERT INTO ledger.reconciliation_runs (run_id, as_of, status, result)
    VALUES (run_id, (result->>'as_of')::timestamptz, result->>'status', result);
    INSERT INTO ledger.outbox (event_id, topic, key, value)
    VALUES (run_id, 'takeback.reconciliations', 'ledger', convert_to(jsonb_build_object(
        'event_id', run_id, 'type', 'reconciliation.completed', 'version', 1, 'occurred_at', result->'as_of',
        'source', jsonb_build_object('kind', 'scheme', 'id', 'ledger'),
        'data', jsonb_build_object('run_id', run_id) || result)::text, 'UTF8'));
END $$;
REVOKE ALL ON FUNCTION ledger.record_reconciliation_run(uuid, jsonb) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'takeback_gateway') THEN
        GRANT EXECUTE ON FUNCTION ledger.record_reconciliation_run(uuid, jsonb) TO takeback_gateway;
    END IF;
END $$;
"""


def upgrade() -> None:
    run_sql_script(UPGRADE)


def downgrade() -> None:
    run_sql_script("DROP FUNCTION IF EXISTS ledger.record_reconciliation_run(uuid, jsonb);")
