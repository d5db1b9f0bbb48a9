"""A late sale's handling fee (contract 8.1 with 8.2): what the collection it settled earned.

A collection taken back as an orphan earns no handling fee; when a sale that
occurred before it arrives later, the collection is settled as if the sale had
come first (revision 0018): refunded or lease closed, and now also paid the
handling fee of the terms in force at the collection's `occurred_at`. The
collection's row is never changed, so the fee is kept on the `scheme.late_sales`
row (written once), with its currency and the terms' `effective_from`; and the
table gets `txid` (as revision 0015) for reconciliation's windows.

Revision ID: 0021
"""

from infra.migrations.script import run_sql_script

revision = "0021"
down_revision = "0020"

UPGRADE = """
ALTER TABLE scheme.late_sales
    ADD COLUMN IF NOT EXISTS handling_fee bigint NOT NULL DEFAULT 0 CHECK (handling_fee >= 0),
    ADD COLUMN IF NOT EXISTS handling_fee_currency char(3),
    ADD COLUMN IF NOT EXISTS terms_effective_from timestamptz,
    ADD COLUMN IF NOT EXISTS txid xid8;
ALTER TABLE scheme.late_sales ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
CREATE INDEX IF NOT EXISTS late_sales_txid_brin ON scheme.late_sales USING brin ((txid::text::bigint));
"""

DOWNGRADE = """
DROP INDEX IF EXISTS scheme.late_sales_txid_brin;
ALTER TABLE scheme.late_sales DROP COLUMN IF EXISTS handling_fee, DROP COLUMN IF EXISTS handling_fee_currency,
    DROP COLUMN IF EXISTS terms_effective_from, DROP COLUMN IF EXISTS txid;
"""


def upgrade() -> None:
    run_sql_script(UPGRADE)


def downgrade() -> None:
    run_sql_script(DOWNGRADE)
