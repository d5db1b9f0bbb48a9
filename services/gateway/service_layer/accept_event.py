"""Accept one event over HTTP: authorise what it claims, parse by the contract, authorise it all for the key,
produce the raw bytes.

The bytes produced are the bytes received, so the event's content hash is the same
as if the producer had written to Kafka itself. Nothing refused reaches Kafka.
"""
from __future__ import annotations

from datetime import datetime, timezone
from uuid import UUID

from contracts.events import ContractViolation, check_not_in_future, check_source, key_of, load_json, parse_event
from contracts.topics import IN_EVENT_TYPES, TOPIC_OF_TYPE
from services.gateway.domain.authorisation import authorise_claim, authorise_sending
from services.gateway.domain.errors import BadEvent, Forbidden
from services.gateway.domain.keys import KeyHolder
from services.gateway.service_layer.ports import EventPublisher


async def accept_event(raw: bytes, holder: KeyHolder, publisher: EventPublisher,
                       now: datetime | None = None) -> tuple[UUID, str]:
    """(event_id, event_type) once the event is durably in its topic; else a `Refused`."""
    now = now or datetime.now(timezone.utc)
    event_type = None
    try:
        obj = load_json(raw)
        event_type = obj["type"] if obj.get("type") in IN_EVENT_TYPES else None
        if event_type is not None:
            authorise_claim(holder, event_type, obj.get("source"))
        envelope = parse_event(obj)
        authorise_sending(holder, envelope)
        check_source(envelope)
        check_not_in_future(envelope, now)
    except ContractViolation as violation:
        refusal = Forbidden if violation.reason == "source_mismatch" else BadEvent
        raise refusal(violation.reason, violation.message, violation.errors, event_type) from None
    key = key_of(envelope)
    assert key is not None, "every event in has a key field"
    await publisher.publish(TOPIC_OF_TYPE[envelope.type], key, raw)
    return envelope.event_id, envelope.type
