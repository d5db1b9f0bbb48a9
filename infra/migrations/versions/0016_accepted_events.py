"""The events the gateway accepted (contract 8.2): who sent each, so its status is readable by that
source alone.

`gateway.accepted_events` gets one row when `POST /v1/events` has an event durably
in Kafka (written after the acknowledgement, in groups: one INSERT for all the
requests accepted meanwhile): the event id, the source that sent it (the key's),
the content hash of what was sent (to tell a duplicate from an `event_id_conflict`)
and when. An event sent again keeps its first row. `GET /v1/events/{event_id}`
answers `accepted` while the row exists and the inbox has no outcome yet.

Only the gateway's role reads and adds rows; no role but the owner may change
or delete one.

Revision ID: 0016
"""

from infra.migrations.script import run_sql_script

revision = "0016"
down_revision = "0015"

GATEWAY = "takeback_gateway"

UPGRADE = f"""
CREATE TABLE IF NOT EXISTS gateway.accepted_events (
    event_id      uuid PRIMARY KEY,
    source_kind   text NOT NULL,
    source_id     text NOT NULL,
    content_hash  bytea NOT NULL,
    accepted_at   timestamptz NOT NULL DEFAULT now()
);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{GATEWAY}') AND current_user <> '{GATEWAY}' THEN
        GRANT SELECT, INSERT ON gateway.accepted_events TO {GATEWAY};
    END IF;
END $$;
"""

DOWNGRADE = "DROP TABLE IF EXISTS gateway.accepted_events;"


def upgrade() -> None:
    run_sql_script(UPGRADE)


def downgrade() -> None:
    run_sql_script(DOWNGRADE)
