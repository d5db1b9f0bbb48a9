"""Accept one event over HTTP: authorise what it claims, parse by the contract, authorise it all for the key,
produce the raw bytes.

The bytes produced are the bytes received, so the event's content hash is the same
as if the producer had written to Kafka itself. Nothing refused reaches Kafka.

An event is read once: the native pass (`contracts.structs.read_event`, as the stream
workers read it) gives the typed event and its content hash together; only an event it
does not accept is read by the contract's models, which name every failing field and rule.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple
from uuid import UUID

from contracts.events import (
    ContractViolation,
    canonical_hash,
    check_not_in_future,
    check_source,
    key_of,
    load_json,
    parse_event,
)
from contracts.structs import read_event
from contracts.topics import IN_EVENT_TYPES, TOPIC_OF_TYPE
from services.gateway.domain.authorisation import authorise_claim, authorise_sending
from services.gateway.domain.errors import BadEvent, Forbidden
from services.gateway.domain.keys import KeyHolder
from services.gateway.service_layer.ports import EventPublisher


class AcceptedEvent(NamedTuple):
    event_id: UUID
    event_type: str
    content_hash: bytes  # what the streams record in the inbox for this event (its idempotency hash)


async def accept_event(
    raw: bytes, holder: KeyHolder, publisher: EventPublisher, now: datetime | None = None
) -> AcceptedEvent:
    """The event's id, type and content hash once it is durably in its topic; else a `Refused`."""
    now = now or datetime.now(UTC)
    event, sent_hash = read(raw, holder)
    try:
        authorise_sending(holder, event)
        check_source(event)
        check_not_in_future(event, now)
    except ContractViolation as violation:
        raise _refusal(violation, event.type) from None
    key = key_of(event)
    assert key is not None, "every event in has a key field"
    await publisher.publish(TOPIC_OF_TYPE[event.type], key, raw)
    return AcceptedEvent(event.event_id, event.type, sent_hash)


def read(raw: bytes, holder: KeyHolder):
    """(the typed event, its content hash): natively, else by the models after the claim is authorised (403
    before 400: a key learns nothing of how the events it may not send are checked)."""
    fast = read_event(raw)
    if fast is not None:
        event, sent_hash = fast
        authorise_claim(holder, event.type, {"kind": event.source.kind, "id": event.source.id})
        return event, sent_hash
    event_type = None
    try:
        obj = load_json(raw)
        event_type = obj["type"] if obj.get("type") in IN_EVENT_TYPES else None
        if event_type is not None:
            authorise_claim(holder, event_type, obj.get("source"))
        event = parse_event(obj)
        return event, _content_hash(obj)
    except ContractViolation as violation:
        raise _refusal(violation, event_type) from None


def _content_hash(obj: dict) -> bytes:
    try:
        return canonical_hash(obj)
    except ValueError:  # a number JSON reads as infinite (1e400) has no canonical form, as the streams say
        raise ContractViolation("invalid_json", "a number is out of the range of a double") from None


def _refusal(violation: ContractViolation, event_type: str | None) -> BadEvent | Forbidden:
    refusal = Forbidden if violation.reason == "source_mismatch" else BadEvent
    return refusal(violation.reason, violation.message, violation.errors, event_type)
