"""The runs of input offsets (revision 0009) merged, so their table does not grow a row per batch for ever.

`scheme.compact_input_offsets()` replaces the rows it sees by their islands (the
merged runs per partition), in one statement: rows a batch commits meanwhile
are not in its snapshot, so they are neither deleted nor lost. It runs as the
owner (SECURITY DEFINER): the streams' role may call it, and still cannot
delete a row itself. One call at a time (an advisory lock); a second returns 0.

Revision ID: 0012
"""
from infra.migrations.script import run_sql_script

revision = "0012"
down_revision = "0011"

UPGRADE = r"""
CREATE OR REPLACE FUNCTION scheme.compact_input_offsets() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    removed bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('scheme.compact_input_offsets')) THEN
        RETURN 0;
    END IF;
    WITH r AS (
        SELECT ctid AS row_id, topic, partition, first_offset, last_offset,
               max(last_offset) OVER (PARTITION BY topic, partition ORDER BY first_offset, last_offset
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach_before
          FROM scheme.input_offsets),
    numbered AS (
        SELECT *, count(*) FILTER (WHERE reach_before IS NULL OR first_offset > reach_before + 1)
                  OVER (PARTITION BY topic, partition ORDER BY first_offset, last_offset) AS island
          FROM r),
    islands AS (
        SELECT topic, partition, min(first_offset) AS first_offset, max(last_offset) AS last_offset
          FROM numbered GROUP BY topic, partition, island),
    gone AS (
        DELETE FROM scheme.input_offsets o USING numbered n WHERE o.ctid = n.row_id RETURNING 1),
    added AS (
        INSERT INTO scheme.input_offsets (topic, partition, first_offset, last_offset)
        SELECT topic, partition, first_offset, last_offset FROM islands RETURNING 1)
    SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM added) INTO removed;
    RETURN removed;
END $$;
REVOKE ALL ON FUNCTION scheme.compact_input_offsets() FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'takeback_streams') THEN
        GRANT EXECUTE ON FUNCTION scheme.compact_input_offsets() TO takeback_streams;
    END IF;
END $$;
"""


def upgrade() -> None:
    run_sql_script(UPGRADE)


def downgrade() -> None:
    run_sql_script("DROP FUNCTION IF EXISTS scheme.compact_input_offsets();")
