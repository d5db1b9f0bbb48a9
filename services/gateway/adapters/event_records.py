"""Events' outcomes read from the scheme, and the events the gateway accepted (`gateway.accepted_events`,
revision 0016); an in-memory twin for unit tests.

Every read is one query for any number of event ids, so the waiting requests of a
gateway cost one query a poll, however many they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from uuid import UUID

import asyncpg

from services.common.channels import INBOX_CHANNEL
from services.common.ids import stable_id
from services.gateway.domain.event_status import AcceptedRecord, InboxRecord

LISTEN_CONNECT_TIMEOUT_S = 5.0
# The rejection's message is in its `event.rejected`, while the outbox keeps it (its id: streams' stable_id).
# A collection's outcome is what it is now: an orphan's collection that a late sale settled (revision 0018)
# says `refunded` (with the refund) or `lease_closed`.
_OUTCOMES = """
SELECT w.event_id, i.event_type, i.outcome, i.reason, i.content_hash,
       CASE WHEN o.value IS NOT NULL THEN convert_from(o.value, 'UTF8')::jsonb -> 'data' ->> 'message' END
           AS message,
       coalesce(l.outcome, c.outcome) AS taken_back, i.source_kind, i.source_id, r.amount AS refund_amount,
       r.currency AS refund_currency, r.method AS refund_method,
       c.handling_fee + coalesce(l.handling_fee, 0) AS handling_fee
  FROM unnest($1::uuid[], $2::uuid[]) AS w (event_id, rejection_id)
  JOIN scheme.inbox i ON i.event_id = w.event_id
  LEFT JOIN scheme.outbox o ON i.outcome = 'rejected' AND o.event_id = w.rejection_id
  LEFT JOIN scheme.collections c ON i.event_type = 'collection.logged' AND c.event_id = w.event_id
  LEFT JOIN scheme.late_sales l ON l.collection_event_id = c.event_id
  LEFT JOIN scheme.refunds r ON r.serial = c.serial AND r.caused_by = w.event_id
"""


def rejection_id(event_id: UUID) -> str:
    return stable_id("rejected", event_id)


class PostgresEventRecords:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def outcomes(self, event_ids: list[UUID]) -> dict[UUID, InboxRecord]:
        if not event_ids:
            return {}
        rows = await self.pool.fetch(_OUTCOMES, event_ids, [rejection_id(i) for i in event_ids])
        return {
            row["event_id"]: InboxRecord(**{**dict(row), "content_hash": bytes(row["content_hash"])})
            for row in rows
        }

    async def accepted(self, event_id: UUID) -> AcceptedRecord | None:
        row = await self.pool.fetchrow(
            """SELECT event_id, source_kind, source_id, content_hash
                 FROM gateway.accepted_events WHERE event_id = $1""",
            event_id,
        )
        return (
            None
            if row is None
            else AcceptedRecord(**{**dict(row), "content_hash": bytes(row["content_hash"])})
        )

    async def add_accepted(self, records: list[AcceptedRecord]) -> None:
        """One INSERT for them all; an event accepted before keeps its first row."""
        await self.pool.execute(
            """INSERT INTO gateway.accepted_events (event_id, source_kind, source_id, content_hash)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[])
               ON CONFLICT (event_id) DO NOTHING""",
            [r.event_id for r in records],
            [r.source_kind for r in records],
            [r.source_id for r in records],
            [r.content_hash for r in records],
        )


class InMemoryEventRecords:
    def __init__(self, inbox: Iterable[InboxRecord] = ()) -> None:
        self.inbox = {record.event_id: record for record in inbox}
        self.accepted_events: dict[UUID, AcceptedRecord] = {}

    async def outcomes(self, event_ids: list[UUID]) -> dict[UUID, InboxRecord]:
        return {i: self.inbox[i] for i in event_ids if i in self.inbox}

    async def accepted(self, event_id: UUID) -> AcceptedRecord | None:
        return self.accepted_events.get(event_id)

    async def add_accepted(self, records: list[AcceptedRecord]) -> None:
        for record in records:
            self.accepted_events.setdefault(record.event_id, record)


class InboxListener:
    """One LISTEN connection of its own on the streams' inbox channel; `listen` opens it (again, once
    closed)."""

    def __init__(self, database_url: str, connect_timeout_s: float = LISTEN_CONNECT_TIMEOUT_S) -> None:
        self.database_url = database_url
        self.connect_timeout_s = connect_timeout_s
        self.connection: asyncpg.Connection | None = None

    async def listen(self, on_notify: Callable[[str], None]) -> Callable[[], bool]:
        """Listen; `on_notify` gets each notification's payload (the event ids a batch decided)."""
        await self.close()
        connection = await asyncpg.connect(self.database_url, timeout=self.connect_timeout_s)
        await connection.add_listener(INBOX_CHANNEL, lambda _c, _pid, _channel, payload: on_notify(payload))
        self.connection = connection
        return lambda: not connection.is_closed()

    async def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()
