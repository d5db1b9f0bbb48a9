"""Outboxes published by transaction snapshots: no row is updated to say it was sent.

Before, the relay marked every row it published (`UPDATE ... SET published_at`),
which cost PostgreSQL as much as writing the events. Now each row records the
transaction that wrote it (`txid`), and the relay keeps one cursor row per
outbox (`outbox_relay`), batches of transactions defined by snapshots:

- `done_snapshot`: every row written by a transaction visible in it is published;
- `window_snapshot`: the window being published, the rows of the transactions
  visible in it and not in `done_snapshot`, in `seq` order;
- `after_seq`: the rows of the window up to this seq are published.

A transaction still running when a window is taken is not visible in it, so
its rows fall in a later window: none is skipped, and none waits for a slow
transaction that wrote nothing. Rows written before this revision and not yet
published get the oldest normal transaction id (3), so the first window sends them.
The services' role no longer needs to update an outbox: it may only add to it.

Revision ID: 0007
"""

from infra.migrations.script import run_sql_script

revision = "0007"
down_revision = "0006"

SCHEMAS = ("scheme", "ledger")

UPGRADE = r"""
ALTER TABLE {s}.outbox ADD COLUMN IF NOT EXISTS txid xid8;
UPDATE {s}.outbox SET txid = '3'::xid8 WHERE published_at IS NULL AND txid IS NULL;
ALTER TABLE {s}.outbox ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
COMMENT ON COLUMN {s}.outbox.published_at IS 'set only for rows published before revision 0007';
CREATE INDEX IF NOT EXISTS outbox_txid ON {s}.outbox (txid) WHERE txid IS NOT NULL;
DROP INDEX IF EXISTS {s}.{unpublished};

CREATE TABLE IF NOT EXISTS {s}.outbox_relay (
    only_row         boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    done_snapshot    pg_snapshot NOT NULL,
    window_snapshot  pg_snapshot,
    after_seq        bigint NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
INSERT INTO {s}.outbox_relay (done_snapshot) VALUES ('3:3:') ON CONFLICT DO NOTHING;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'takeback') AND current_user <> 'takeback' THEN
        GRANT SELECT, UPDATE ON {s}.outbox_relay TO takeback;
        REVOKE UPDATE, DELETE, TRUNCATE ON {s}.outbox FROM takeback;
    END IF;
END $$;
"""

DOWNGRADE = r"""
UPDATE {s}.outbox o SET published_at = now() FROM {s}.outbox_relay r
 WHERE o.published_at IS NULL AND o.txid IS NOT NULL AND pg_visible_in_snapshot(o.txid, r.done_snapshot);
DROP TABLE IF EXISTS {s}.outbox_relay;
DROP INDEX IF EXISTS {s}.outbox_txid;
ALTER TABLE {s}.outbox DROP COLUMN IF EXISTS txid;
CREATE INDEX IF NOT EXISTS {unpublished} ON {s}.outbox (seq) WHERE published_at IS NULL;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'takeback') AND current_user <> 'takeback' THEN
        GRANT UPDATE ON {s}.outbox TO takeback;
    END IF;
END $$;
"""

UNPUBLISHED_INDEX = {"scheme": "outbox_unpublished", "ledger": "ledger_outbox_unpublished"}


def upgrade() -> None:
    for schema in SCHEMAS:
        run_sql_script(UPGRADE.format(s=schema, unpublished=UNPUBLISHED_INDEX[schema]))


def downgrade() -> None:
    for schema in SCHEMAS:
        run_sql_script(DOWNGRADE.format(s=schema, unpublished=UNPUBLISHED_INDEX[schema]))
