"""What the use cases need from the world; adapters implement these (PostgreSQL, Kafka, in-memory)."""
from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from services.gateway.domain.event_status import AcceptedRecord, InboxRecord
from services.gateway.domain.keys import StoredKey


class KeyRepository(Protocol):
    async def add(self, key: StoredKey) -> None: ...

    async def get(self, key_id: str) -> StoredKey | None: ...

    async def list(self) -> list[StoredKey]: ...

    async def revoke(self, key_id: str, at: datetime) -> StoredKey | None:
        """The key after revocation (unchanged if it was revoked before); None if unknown."""


class EventPublisher(Protocol):
    async def publish(self, topic: str, key: str, value: bytes) -> None:
        """Return only once the event log acknowledged the message (acks=all); raise EventLogUnavailable."""


class ReconciliationRuns(Protocol):
    """Completed reconciliation runs: each result is the contract's body plus its `run_id`."""

    async def latest(self) -> dict | None: ...

    async def get(self, run_id: UUID) -> dict | None: ...

    async def store(self, run_id: UUID, result: dict) -> None: ...


class EventRecords(Protocol):
    """Events' outcomes in the scheme, and the events this gateway accepted (revision 0016)."""

    async def outcomes(self, event_ids: list[UUID]) -> dict[UUID, InboxRecord]:
        """The inbox's record of each of these events that has one, in one read."""

    async def accepted(self, event_id: UUID) -> AcceptedRecord | None: ...

    async def add_accepted(self, records: list[AcceptedRecord]) -> None:
        """In one write; an event accepted before keeps its first record."""
