"""Battery rows change state in place: heap-only (HOT) updates, no index write per change.

A battery's row is updated at every step of its life (sold, collected,
dispatched, received, recycled). The index on (state, contract) made each of
those updates write a new entry into both of the table's indexes. The queries
it was meant for (reports and reconciliation over the batteries in use) read
most of the table, where a sequential scan is what the planner picks anyway.
Without it, and with room left on each page (fillfactor 80), a state change
rewrites the row on its own page and touches no index.

Revision ID: 0008
"""

from infra.migrations.script import run_sql_script

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    run_sql_script("""
        DROP INDEX IF EXISTS scheme.batteries_state;
        ALTER TABLE scheme.batteries SET (fillfactor = 80);
    """)


def downgrade() -> None:
    run_sql_script("""
        ALTER TABLE scheme.batteries RESET (fillfactor);
        CREATE INDEX IF NOT EXISTS batteries_state ON scheme.batteries (state, contract);
    """)
