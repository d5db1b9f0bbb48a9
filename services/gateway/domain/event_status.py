"""What became of an event (contract 8.2): `accepted`, `applied` or `rejected`, with its outcome.

Read from the scheme's records: the inbox row (applied or rejected, and why), a
collection's row and its refund, and the rejection's message from the outbox. An
event this gateway sent whose id the inbox holds with other content was rejected
by position (`event_id_conflict`): the inbox keeps the first event's outcome, and
only the content hash tells them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from services.gateway.domain.keys import KeyHolder

_STATE_AFTER = {"collection.logged": "collected"}


@dataclass(frozen=True)
class InboxRecord:
    """An event's outcome as the scheme recorded it, with what a collection's outcome needs."""

    event_id: UUID
    event_type: str
    outcome: str  # applied | rejected
    reason: str | None
    content_hash: bytes
    message: str | None = None  # the rejection's message, while the outbox keeps it
    taken_back: str | None = None  # a collection: refunded | lease_closed | taken_back_free
    source_kind: str | None = None  # the event's source as the streams read it (revision 0026); None when
    source_id: str | None = None  # the event could not be read (or was not signed by its source)
    refund_amount: int | None = None
    refund_currency: str | None = None
    refund_method: str | None = None
    handling_fee: int | None = None  # a collection: what the centre earned for it (contract 8.1)


@dataclass(frozen=True)
class AcceptedRecord:
    """An event this gateway accepted: who sent it, and the hash of what it sent."""

    event_id: UUID
    source_kind: str
    source_id: str
    content_hash: bytes


def sender_of(accepted: AcceptedRecord | None, record: InboxRecord | None) -> tuple[str, str] | None:
    """(kind, id) of the source that sent the event: the gateway's record of it, else (an event written to
    Kafka directly) the source the streams recorded with its outcome; else unknown (finance only)."""
    if accepted is not None:
        return accepted.source_kind, accepted.source_id
    if record is not None and record.source_kind is not None and record.source_id is not None:
        return record.source_kind, record.source_id
    return None


def may_read(holder: KeyHolder, sender: tuple[str, str] | None) -> bool:
    """The source that sent the event, and finance keys; nobody else learns that it exists."""
    return holder.role == "finance" or sender == (holder.source_kind, holder.source_id)


def status_body(event_id: UUID, record: InboxRecord | None, sent_hash: bytes | None) -> dict[str, Any] | None:
    """`{"event_id", "status", "outcome"}` once the event has an outcome; None while it has none.

    `sent_hash` is the content hash of what was sent (None when unknown): another hash in the inbox means
    this content was refused as `event_id_conflict`.
    """
    if record is None:
        return None
    if sent_hash is not None and record.content_hash != sent_hash:
        return _body(
            event_id,
            "rejected",
            {
                "reason": "event_id_conflict",
                "message": f"event_id {event_id} was already used for an event with other content",
            },
        )
    if record.outcome == "rejected":
        assert record.reason is not None, "a rejection has a reason"
        return _body(
            event_id,
            "rejected",
            {"reason": record.reason, "message": record.message or f"rejected: {record.reason}"},
        )
    assert record.outcome == "applied", "an inbox outcome is applied or rejected"
    return _body(event_id, "applied", applied_outcome(record))


def accepted_body(event_id: UUID) -> dict[str, Any]:
    return _body(event_id, "accepted", None)


def applied_outcome(record: InboxRecord) -> dict[str, Any]:
    if record.event_type != "collection.logged":
        return {"event_type": record.event_type}
    refund = None
    if record.refund_amount is not None:
        refund = {
            "amount": record.refund_amount,
            "currency": record.refund_currency,
            "method": record.refund_method,
        }
    return {
        "state": _STATE_AFTER[record.event_type],
        "refund": refund,
        "handling_fee": record.handling_fee or 0,
        "taken_back": record.taken_back,
    }


def _body(event_id: UUID, status: str, outcome: dict[str, Any] | None) -> dict[str, Any]:
    return {"event_id": str(event_id), "status": status, "outcome": outcome}
