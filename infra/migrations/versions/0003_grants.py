"""The services' role: DML on the scheme, and only SELECT and INSERT on the journal.

Revision ID: 0003
"""

from infra.migrations.script import run_sql_script

revision = "0003"
down_revision = "0002"

SQL = r"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'takeback')
       AND current_user <> 'takeback' THEN
        GRANT USAGE ON SCHEMA scheme, ledger TO takeback;
        GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA scheme TO takeback;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA scheme, ledger TO takeback;
        GRANT SELECT, INSERT ON ledger.entries, ledger.lines, ledger.account_movements TO takeback;
        GRANT SELECT, INSERT, UPDATE ON ledger.outbox, ledger.reconciliation_runs TO takeback;
        REVOKE UPDATE, DELETE, TRUNCATE ON ledger.entries, ledger.lines, ledger.account_movements
            FROM takeback;
    END IF;
END $$;
"""


def upgrade() -> None:
    run_sql_script(SQL)


def downgrade() -> None:
    pass
