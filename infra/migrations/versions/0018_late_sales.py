"""Late sales (contract 8.2): a sale recorded after its battery was taken back as an orphan.

- `scheme.collections` keeps the refund the centre asked for (`refund_method`,
  `payee_ref`; NULL when the event named none): a sale that arrives later, but
  occurred before the collection, refunds that collection with that method.
  Collections stored before this revision have NULL there (a refund then goes
  out in `cash`, the contract's default).
- `scheme.custody_history.seq` may be 0: the late sale's line, placed before the
  orphan's collection (always its first line, seq 1), so the history read in
  seq order is in `occurred_at` order and the battery's last line is unchanged.
- `scheme.late_sales`: one row per collection a late sale settled (the refund it
  caused, or the lease it closed), written once. The collection's own row is
  never changed; its outcome now is this row's, else its own.

Only the streams add rows; every service role and the reader read them.

Revision ID: 0018
"""

from infra.migrations.script import run_sql_script

revision = "0018"
down_revision = "0017"

STREAMS, LEDGER, GATEWAY, READER = (
    "takeback_streams",
    "takeback_ledger",
    "takeback_gateway",
    "takeback_reader",
)


def _for_role(role: str, statements: str) -> str:
    return f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') AND current_user <> '{role}' THEN
        {statements}
    END IF;
END $$;"""


UPGRADE = (
    """
ALTER TABLE scheme.collections
    ADD COLUMN IF NOT EXISTS refund_method text
        CHECK (refund_method IN ('cash', 'card', 'bank_transfer', 'voucher')),
    ADD COLUMN IF NOT EXISTS payee_ref text;
ALTER TABLE scheme.custody_history DROP CONSTRAINT IF EXISTS custody_history_seq_check;
ALTER TABLE scheme.custody_history ADD CONSTRAINT custody_history_seq_check CHECK (seq >= 0);
CREATE TABLE IF NOT EXISTS scheme.late_sales (
    collection_event_id  uuid PRIMARY KEY REFERENCES scheme.collections (event_id),
    serial               text NOT NULL,
    sale_id              text NOT NULL,
    sale_event_id        uuid NOT NULL,
    outcome              text NOT NULL CHECK (outcome IN ('refunded', 'lease_closed')),
    occurred_at          timestamptz NOT NULL
);
"""
    + _for_role(STREAMS, f"GRANT SELECT, INSERT ON scheme.late_sales TO {STREAMS};")
    + "".join(
        _for_role(role, f"GRANT SELECT ON scheme.late_sales TO {role};") for role in (LEDGER, GATEWAY, READER)
    )
)

DOWNGRADE = """
DROP TABLE IF EXISTS scheme.late_sales;
ALTER TABLE scheme.custody_history DROP CONSTRAINT IF EXISTS custody_history_seq_check;
ALTER TABLE scheme.custody_history ADD CONSTRAINT custody_history_seq_check CHECK (seq >= 1);
ALTER TABLE scheme.collections DROP COLUMN IF EXISTS refund_method, DROP COLUMN IF EXISTS payee_ref;
"""


def upgrade() -> None:
    run_sql_script(UPGRADE)


def downgrade() -> None:
    run_sql_script(DOWNGRADE)
