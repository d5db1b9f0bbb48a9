"""Journal lines: check their entries once per statement instead of once per row.

The foreign key from ledger.lines to ledger.entries ran one lookup per line and
was about half the cost of posting. The statement-level trigger that already
checks each entry's balance now also checks that every entry named by the new
lines exists, in one set-based query. Same guarantee, one query per batch.

Revision ID: 0006
"""

from infra.migrations.script import run_sql_script

revision = "0006"
down_revision = "0005"

SQL = r"""
ALTER TABLE ledger.lines DROP CONSTRAINT IF EXISTS lines_entry_id_fkey;

CREATE OR REPLACE FUNCTION ledger.lines_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad record;
BEGIN
    SELECT n.entry_id INTO bad
      FROM (SELECT DISTINCT entry_id FROM new_lines) n
     WHERE NOT EXISTS (SELECT 1 FROM ledger.entries e WHERE e.entry_id = n.entry_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal lines name entry %, which does not exist', bad.entry_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT n.entry_id, n.currency, sum(n.debit) AS debit, sum(n.credit) AS credit
      INTO bad
      FROM new_lines n
     GROUP BY n.entry_id, n.currency
    HAVING sum(n.debit) <> sum(n.credit)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance in %: debit % credit %',
            bad.entry_id, bad.currency, bad.debit, bad.credit
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    run_sql_script(SQL)


def downgrade() -> None:
    run_sql_script(
        "ALTER TABLE ledger.lines ADD CONSTRAINT lines_entry_id_fkey "
        "FOREIGN KEY (entry_id) REFERENCES ledger.entries"
    )
