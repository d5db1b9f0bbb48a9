"""The ledger's additions: unpostable messages, content hashes, reversals across partitions.

- `ledger.unpostable`: a posting message the ledger could not post (malformed,
  unbalanced, key mismatch, posting key reused with other content), kept with
  its raw value and the error, so nothing read is silently dropped.
- `ledger.entries.content_hash`: SHA-256 of the posting's canonical JSON; the
  same posting key with another content is refused, not skipped.
- The foreign key `entries.reverses -> entries` goes: a cancellation travels
  under its own posting key, so it may land in another partition and be posted
  before the sale it reverses. The link stays (a deterministic entry id) and
  reconciliation checks it (`ledger_traced_to_scheme`).

Every statement is idempotent, so the script can be applied ahead of alembic.

Revision ID: 0005
"""

from infra.migrations.script import run_sql_script

revision = "0005"
down_revision = "0004"

SQL = r"""
CREATE TABLE IF NOT EXISTS ledger.unpostable (
    seq          bigserial PRIMARY KEY,
    topic        text NOT NULL,
    partition    int NOT NULL,
    "offset"     bigint NOT NULL,
    key          text,
    value        bytea NOT NULL,
    error        text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);
CREATE OR REPLACE TRIGGER unpostable_append_only BEFORE UPDATE OR DELETE ON ledger.unpostable
    FOR EACH ROW EXECUTE FUNCTION ledger.append_only();
CREATE OR REPLACE TRIGGER movements_no_truncate BEFORE TRUNCATE ON ledger.account_movements
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.append_only();

ALTER TABLE ledger.entries ADD COLUMN IF NOT EXISTS content_hash bytea;
ALTER TABLE ledger.entries DROP CONSTRAINT IF EXISTS entries_reverses_fkey;
CREATE INDEX IF NOT EXISTS entries_reverses ON ledger.entries (reverses) WHERE reverses IS NOT NULL;
CREATE INDEX IF NOT EXISTS reconciliation_runs_as_of ON ledger.reconciliation_runs (as_of);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'takeback')
       AND current_user <> 'takeback' THEN
        GRANT SELECT, INSERT ON ledger.unpostable TO takeback;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA ledger TO takeback;
        REVOKE UPDATE, DELETE, TRUNCATE ON ledger.unpostable, ledger.entries, ledger.lines,
            ledger.account_movements FROM takeback;
    END IF;
END $$;
"""

DOWNGRADE_SQL = r"""
DROP TABLE IF EXISTS ledger.unpostable;
DROP TRIGGER IF EXISTS movements_no_truncate ON ledger.account_movements;
DROP INDEX IF EXISTS ledger.entries_reverses;
DROP INDEX IF EXISTS ledger.reconciliation_runs_as_of;
ALTER TABLE ledger.entries DROP COLUMN IF EXISTS content_hash;
ALTER TABLE ledger.entries ADD CONSTRAINT entries_reverses_fkey
    FOREIGN KEY (reverses) REFERENCES ledger.entries NOT VALID;
"""


def upgrade() -> None:
    run_sql_script(SQL)


def downgrade() -> None:
    run_sql_script(DOWNGRADE_SQL)
