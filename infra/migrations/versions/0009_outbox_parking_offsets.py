"""Nothing on the way out can stall, nothing grows without bound, every input offset has an outcome.

- `{s}.outbox_parked`: an event out the broker will not take as it is (too large,
  refused) is parked here with its reason, and the relay goes on with the rest of
  the window. The row stays in the outbox; operators read it here.
- `{s}.prune_outbox(keep)`: deletes published outbox rows older than `keep`
  (at least an hour), a bounded chunk a call, never a parked one. It runs as the
  schema's owner (SECURITY DEFINER): the services' role still cannot delete or
  update an outbox row itself, it can only ask for published ones to go.
- `scheme.input_offsets`: the runs of input offsets each batch's transaction gave
  an outcome to (applied, rejected, or seen before). Reconciliation compares them
  with the topics' offsets, so a message never given an outcome is found and named.

Revision ID: 0009
"""

from infra.migrations.script import run_sql_script

revision = "0009"
down_revision = "0008"

SCHEMAS = ("scheme", "ledger")
PRUNE_CHUNK_ROWS = 10_000

UPGRADE = r"""
CREATE TABLE IF NOT EXISTS {s}.outbox_parked (
    seq          bigint PRIMARY KEY,
    event_id     uuid NOT NULL,
    topic        text NOT NULL,
    key          text NOT NULL,
    value_bytes  int NOT NULL,
    reason       text NOT NULL,
    parked_at    timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION {s}.prune_outbox(keep interval) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    deleted bigint;
BEGIN
    IF keep < interval '1 hour' THEN
        RAISE EXCEPTION 'keep must be at least one hour (got %)', keep;
    END IF;
    DELETE FROM {s}.outbox o
     WHERE o.seq IN (
        SELECT x.seq FROM {s}.outbox x, {s}.outbox_relay r
         WHERE x.created_at < now() - keep
           AND x.txid IS NOT NULL AND pg_visible_in_snapshot(x.txid, r.done_snapshot)
           AND NOT EXISTS (SELECT 1 FROM {s}.outbox_parked p WHERE p.seq = x.seq)
         ORDER BY x.seq LIMIT {chunk});
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END $$;
REVOKE ALL ON FUNCTION {s}.prune_outbox(interval) FROM PUBLIC;
CREATE INDEX IF NOT EXISTS outbox_created_at ON {s}.outbox (created_at);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'takeback') AND current_user <> 'takeback' THEN
        GRANT SELECT, INSERT ON {s}.outbox_parked TO takeback;
        GRANT EXECUTE ON FUNCTION {s}.prune_outbox(interval) TO takeback;
    END IF;
END $$;
"""

INPUT_OFFSETS = r"""
CREATE TABLE IF NOT EXISTS scheme.input_offsets (
    topic         text NOT NULL,
    partition     int NOT NULL,
    first_offset  bigint NOT NULL,
    last_offset   bigint NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (0 <= first_offset AND first_offset <= last_offset)
);
CREATE INDEX IF NOT EXISTS input_offsets_position ON scheme.input_offsets (topic, partition, first_offset);
-- Events applied or rejected before this revision: their offsets, as runs, from the inbox.
INSERT INTO scheme.input_offsets (topic, partition, first_offset, last_offset)
SELECT topic, partition, min("offset"), max("offset")
  FROM (SELECT topic, partition, "offset",
               "offset" - row_number() OVER (PARTITION BY topic, partition ORDER BY "offset") AS run
          FROM scheme.inbox) AS numbered
 WHERE NOT EXISTS (SELECT 1 FROM scheme.input_offsets)
 GROUP BY topic, partition, run;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'takeback') AND current_user <> 'takeback' THEN
        GRANT SELECT, INSERT ON scheme.input_offsets TO takeback;
        REVOKE UPDATE, DELETE, TRUNCATE ON scheme.input_offsets FROM takeback;
    END IF;
END $$;
"""


def upgrade() -> None:
    for schema in SCHEMAS:
        run_sql_script(UPGRADE.format(s=schema, chunk=PRUNE_CHUNK_ROWS))
    run_sql_script(INPUT_OFFSETS)


def downgrade() -> None:
    run_sql_script("DROP TABLE IF EXISTS scheme.input_offsets;")
    for schema in SCHEMAS:
        run_sql_script(
            f"DROP FUNCTION IF EXISTS {schema}.prune_outbox(interval); "
            f"DROP INDEX IF EXISTS {schema}.outbox_created_at; "
            f"DROP TABLE IF EXISTS {schema}.outbox_parked;"
        )
