"""A sale item held in suspense and returned to its store by finance (contract 8.1, `discrepancy.resolved`).

`scheme.sale_items.status` gains `returned_to_store`: the item's held money went
back from the store's suspense to its clearing account (the resolution of its
`serial_already_in_market`). The store no longer owes it (reconciliation's
`store_settlement` leaves it out) and it can no longer be cancelled.

Revision ID: 0020
"""

from infra.migrations.script import run_sql_script

revision = "0020"
down_revision = "0019"

STATUSES = ("in_market", "suspense", "cancelled", "returned_to_store")


def _statuses_check(statuses: tuple[str, ...]) -> str:
    return f"""
ALTER TABLE scheme.sale_items DROP CONSTRAINT IF EXISTS sale_items_status_check;
ALTER TABLE scheme.sale_items ADD CONSTRAINT sale_items_status_check
    CHECK (status IN ({", ".join(f"'{s}'" for s in statuses)})) NOT VALID;
ALTER TABLE scheme.sale_items VALIDATE CONSTRAINT sale_items_status_check;
"""


def upgrade() -> None:
    run_sql_script(_statuses_check(STATUSES))


def downgrade() -> None:
    run_sql_script(_statuses_check(STATUSES[:3]))
