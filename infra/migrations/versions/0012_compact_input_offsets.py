"""The runs of input offsets (revision 0009) merged, so their table does not grow a row per batch for ever.

`scheme.input_offset_islands()` merges the runs per partition (what reconciliation's
`offsets_accounted` reads); `scheme.compact_input_offsets()` replaces the rows it
sees by those islands, in one statement: rows a batch commits meanwhile
are not in its snapshot, so they are neither deleted nor lost. It runs as the
owner (SECURITY DEFINER): the streams' role may call it, and still cannot
delete a row itself. One call at a time (an advisory lock); a second returns 0.

Revision ID: 0012
"""

from infra.migrations.script import run_sql_script

revision = "0012"
down_revision = "0011"

UPGRADE = r"""
-- The recorded runs merged into islands, per partition: what reconciliation reads and compaction keeps.
CREATE OR REPLACE FUNCTION scheme.input_offset_islands()
RETURNS TABLE (topic text, partition int, first_offset bigint, last_offset bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    WITH r AS (
        SELECT o.topic, o.partition, o.first_offset, o.last_offset,
               max(o.last_offset) OVER (PARTITION BY o.topic, o.partition
                                        ORDER BY o.first_offset, o.last_offset
                                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach_before
          FROM scheme.input_offsets o),
    numbered AS (
        SELECT r.*, count(*) FILTER (WHERE r.reach_before IS NULL OR r.first_offset > r.reach_before + 1)
                    OVER (PARTITION BY r.topic, r.partition ORDER BY r.first_offset, r.last_offset) AS island
          FROM r)
    SELECT n.topic, n.partition, min(n.first_offset), max(n.last_offset)
      FROM numbered n GROUP BY n.topic, n.partition, n.island
$$;

CREATE OR REPLACE FUNCTION scheme.compact_input_offsets() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    removed bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('scheme.compact_input_offsets')) THEN
        RETURN 0;
    END IF;
    -- One statement, one snapshot: the islands and the rows deleted are the same rows.
    WITH islands AS (SELECT * FROM scheme.input_offset_islands()),
    gone AS (DELETE FROM scheme.input_offsets RETURNING 1),
    added AS (
        INSERT INTO scheme.input_offsets (topic, partition, first_offset, last_offset)
        SELECT i.topic, i.partition, i.first_offset, i.last_offset FROM islands i RETURNING 1)
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
    run_sql_script(
        "DROP FUNCTION IF EXISTS scheme.compact_input_offsets(); "
        "DROP FUNCTION IF EXISTS scheme.input_offset_islands();"
    )
