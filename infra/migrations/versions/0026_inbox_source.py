"""The source of every event the scheme decided, in its inbox row (contract 8.2).

`GET /v1/events/{event_id}` is readable by the key of the source that sent the
event and by finance keys. The gateway knew the sender only of the events it
accepted over HTTP (`gateway.accepted_events`); an event a source produced
straight to Kafka was unknown to that source's own key. The streams now record
the event's `source.kind` and `source.id` with its outcome.

Both columns are nullable: a row rejected before its event could be read (its
`event_id` read, its envelope not) has no source, and only finance reads it.
Rows decided before this revision get the source the contract binds to the
event where the scheme's records hold it: a collection's centre (`return_centre`)
and a sale's store (`pos`); the others stay without one.

Downgrade drops the columns.

Revision ID: 0026
"""

from infra.migrations.script import run_sql_script

revision = "0026"
down_revision = "0025"

UPGRADE = r"""
ALTER TABLE scheme.inbox ADD COLUMN IF NOT EXISTS source_kind text;
ALTER TABLE scheme.inbox ADD COLUMN IF NOT EXISTS source_id text;
ALTER TABLE scheme.inbox DROP CONSTRAINT IF EXISTS inbox_source_both_or_neither;
ALTER TABLE scheme.inbox ADD CONSTRAINT inbox_source_both_or_neither
    CHECK ((source_kind IS NULL) = (source_id IS NULL));
UPDATE scheme.inbox i SET source_kind = 'return_centre', source_id = c.centre_id
  FROM scheme.collections c
 WHERE c.event_id = i.event_id AND i.event_type = 'collection.logged' AND i.source_kind IS NULL;
UPDATE scheme.inbox i SET source_kind = 'pos', source_id = s.store_id
  FROM scheme.sales s
 WHERE s.event_id = i.event_id AND i.event_type = 'sale.recorded' AND i.source_kind IS NULL;
"""

DOWNGRADE = r"""
ALTER TABLE scheme.inbox DROP CONSTRAINT IF EXISTS inbox_source_both_or_neither;
ALTER TABLE scheme.inbox DROP COLUMN IF EXISTS source_kind;
ALTER TABLE scheme.inbox DROP COLUMN IF EXISTS source_id;
"""


def upgrade() -> None:
    run_sql_script(UPGRADE)


def downgrade() -> None:
    run_sql_script(DOWNGRADE)
