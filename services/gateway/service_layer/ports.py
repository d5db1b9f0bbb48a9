"""What the use cases need from the world; adapters implement these (PostgreSQL, Kafka, in-memory)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from contracts.queries import ListQuery, Period
from services.gateway.domain.event_status import AcceptedRecord, InboxRecord
from services.gateway.domain.keys import StoredKey


class KeyRepository(Protocol):
    async def add(self, key: StoredKey) -> None: ...

    async def get(self, key_id: str) -> StoredKey | None: ...

    async def get_many(self, key_ids: list[str]) -> dict[str, StoredKey]:
        """Those of these keys that exist, by key id, in one read."""

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


class ReadModels(Protocol):
    """What the gateway reads of the scheme and the books: the streams' and the ledger's read models.

    The gateway owns none of them; `bootstrap.py` wires the real ones (PostgreSQL, shared
    with the services that write it), so this service layer never imports another service.
    """

    async def battery(self, serial: str) -> dict | None: ...

    async def balances(self, as_of: datetime | None) -> dict: ...

    async def reconcile(self) -> dict:
        """A reconciliation run now, as the ledger's leader runs it (incremental when sound, else full)."""

    async def collection(self, year: int | None, category: str | None) -> dict: ...

    async def collection_by_weight(self, year: int | None, category: str | None, by_country: bool) -> dict:
        """Collected kilograms against Annex XI's three-year average placed on the market (contract 8.3)."""

    async def recycling_efficiency(self, year: int | None) -> dict:
        """Output over input mass per chemistry group, against Annex XII Part B (contract 8.3)."""

    async def passport(self, serial: str) -> dict | None:
        """The battery passport (contract 8.3); None for a serial the scheme does not know."""

    async def recovery(self, year: int | None) -> dict: ...

    async def liability_by_age(self) -> dict: ...

    async def fund_adequacy(self) -> dict: ...

    async def settlement(self, period: Period) -> dict: ...

    async def discrepancies(self, query: ListQuery) -> dict: ...
