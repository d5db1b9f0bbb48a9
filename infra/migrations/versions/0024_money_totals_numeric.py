"""Running totals in numeric: what sums amounts never overflows a bigint.

Each amount of the contract is at most 2^63-1 minor units (a bigint), and so is
each journal line. What adds several of them is not:

- `scheme.counterparty_movements.amount` (a batch's debit - credit on one
  counterparty account) and `ledger.account_movements.debit` / `credit` (a
  batch's debits and credits on one account) become `numeric`, whole numbers
  only (`scale(...) = 0`: integer minor units, never a fraction). Balances are
  sums of these rows, and every read of them sums in numeric.
- `scheme.released_deposits.part`: which of its release's entries moved the
  battery's deposit. A release whose deposits together exceed one line's bound
  is posted as several entries, each within it (`release:<id>` for part 1,
  `release:<id>#<n>` for part n), so each released battery stays traceable to
  its entry. Rows of earlier releases are part 1 (their single entry).

The journal keeps its bigint lines (`ledger.entries.debits` / `credits`,
checked by `ledger.lines_valid`, which balances them in numeric).

Changing a column's type rewrites its table: the next reconciliation run is a
full one (a new storage file of an append-only table, revision 0015).

Revision ID: 0024
"""

from infra.migrations.script import run_sql_script

revision = "0024"
down_revision = "0023"

UPGRADE = r"""
ALTER TABLE scheme.counterparty_movements
    ALTER COLUMN amount TYPE numeric,
    ADD CONSTRAINT counterparty_movements_amount_whole CHECK (scale(amount) = 0);

ALTER TABLE ledger.account_movements
    ALTER COLUMN debit TYPE numeric,
    ALTER COLUMN credit TYPE numeric,
    ADD CONSTRAINT account_movements_whole CHECK (scale(debit) = 0 AND scale(credit) = 0);

ALTER TABLE scheme.released_deposits
    ADD COLUMN IF NOT EXISTS part integer NOT NULL DEFAULT 1 CHECK (part >= 1);
"""

# Back to bigint: refused (nothing changed) if a total no longer fits one, or a release has several parts.
DOWNGRADE = r"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM scheme.released_deposits WHERE part > 1) THEN
        RAISE EXCEPTION 'a release was posted in several entries (released_deposits.part > 1): '
                        'revision 0023 cannot say which entry moved each deposit (nothing changed)';
    END IF;
END $$;
ALTER TABLE scheme.released_deposits DROP COLUMN IF EXISTS part;
ALTER TABLE ledger.account_movements
    DROP CONSTRAINT IF EXISTS account_movements_whole,
    ALTER COLUMN debit TYPE bigint,
    ALTER COLUMN credit TYPE bigint;
ALTER TABLE scheme.counterparty_movements
    DROP CONSTRAINT IF EXISTS counterparty_movements_amount_whole,
    ALTER COLUMN amount TYPE bigint;
"""


def upgrade() -> None:
    run_sql_script(UPGRADE)


def downgrade() -> None:
    run_sql_script(DOWNGRADE)
