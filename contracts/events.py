"""Reading and writing events on the wire: parse, check, dump, hash.

Models live in `data_in`, `data_out` and `envelope`; they are re-exported here.
"""

import hashlib
import json
from collections import Counter
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from contracts.data_in import (
    BatteryRepurposed,
    CollectionLogged,
    Counterparty,
    CustodyTransferred,
    DepositsReleased,
    DiscrepancyResolved,
    LotDispatched,
    LotReceived,
    Party,
    PaymentRecorded,
    RecoveredMaterial,
    RecoveryConfirmed,
    Refund,
    SaleCancelled,
    SaleItem,
    SaleRecorded,
    TermsPublished,
)
from contracts.data_out import (
    BatteryRouted,
    DiscrepancyOpened,
    DiscrepancyResolvedOut,
    EntryLine,
    EntryPosted,
    EventRejected,
    ReconciliationCheck,
    ReconciliationCompleted,
    RefundInstructed,
)
from contracts.envelope import (
    DATA_MODEL_OF_TYPE,
    ENVELOPE_OF_TYPE,
    BatteryRepurposedEvent,
    BatteryRoutedEvent,
    CollectionLoggedEvent,
    CustodyTransferredEvent,
    DepositsReleasedEvent,
    DiscrepancyOpenedEvent,
    DiscrepancyResolvedEvent,
    DiscrepancyResolvedOutEvent,
    EntryPostedEvent,
    Envelope,
    EventRejectedEvent,
    LotDispatchedEvent,
    LotReceivedEvent,
    PaymentRecordedEvent,
    ReconciliationCompletedEvent,
    RecoveryConfirmedEvent,
    RefundInstructedEvent,
    SaleCancelledEvent,
    SaleRecordedEvent,
    SchemeSource,
    Source,
    TermsPublishedEvent,
    UntypedEvent,
)
from contracts.errors import ContractViolation, format_errors, summarize
from contracts.limits import MESSAGE_VALUE_BYTES_MAX
from contracts.structs import canonical_json
from contracts.topics import (
    FIXED_KEY_OF_TYPE,
    IN_EVENT_TYPES,
    KEY_FIELD_OF_TYPE,
    SOURCE_ID_FIELD_OF_TYPE,
    SOURCE_KINDS_OF_TYPE,
    TOPIC_OF_TYPE,
    message_name,
)
from contracts.types import as_uuid

FUTURE_TOLERANCE = timedelta(minutes=5)


def load_json(raw: bytes | bytearray | memoryview | str) -> dict[str, Any]:
    """One UTF-8 JSON object (no NaN, no repeated keys), or `invalid_json`."""
    try:
        text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8")
        value = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_object_without_repeats)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ContractViolation("invalid_json", f"not a UTF-8 JSON document: {error}") from None
    if not isinstance(value, dict):
        raise ContractViolation("invalid_json", f"must be a JSON object, got {type(value).__name__}")
    return value


def parse_event(raw: bytes | str | Mapping[str, Any], types: Collection[str] = IN_EVENT_TYPES) -> Envelope:
    """The typed envelope (e.g. `SaleRecordedEvent`) of `raw`, or a `ContractViolation`.

    `types` is the catalogue accepted; pass `EVENT_TYPES` to read events out too.
    """
    obj = dict(raw) if isinstance(raw, Mapping) else load_json(raw)
    event_id = _event_id_of(obj)
    event_type = obj.get("type")
    if isinstance(event_type, str) and event_type not in types:
        raise _violation(
            "unknown_type", "type", "catalogue", f"{event_type!r} is not in the catalogue", event_id
        )
    model = (
        ENVELOPE_OF_TYPE[_name_in(obj, event_type, types)] if isinstance(event_type, str) else UntypedEvent
    )
    try:
        return model.model_validate(obj)
    except ValidationError as error:
        errors = format_errors(error)
        raise ContractViolation("schema_violation", summarize(errors), event_id, errors) from None


def _name_in(obj: dict[str, Any], event_type: str, types: Collection[str]) -> str:
    """The catalogue name of a wire type: an event out's own name, when it is from the scheme and asked
    for."""
    source = obj.get("source")
    name = message_name(event_type, source.get("kind") if isinstance(source, dict) else None)
    return name if name in types else event_type


def name_of(envelope: Envelope) -> str:
    """The catalogue name of a parsed event (`topics.EVENT_TYPES`)."""
    return message_name(envelope.type, envelope.source.kind)


def dump_event(envelope: Envelope) -> bytes:
    """Compact UTF-8 JSON of an envelope, masses as JSON numbers."""
    return envelope.to_json_bytes()


def canonical_hash(raw_obj: Any) -> bytes:
    """SHA-256 of the canonical JSON of a parsed event: the idempotency content hash."""
    return hashlib.sha256(canonical_json(raw_obj).encode("ascii")).digest()


def key_of(envelope: Envelope) -> str | None:
    """The Kafka message key of an event: its key field, else its fixed key (reconciliation.completed),
    else None (event.rejected: use the original key)."""
    name = name_of(envelope)
    field = KEY_FIELD_OF_TYPE[name]
    return FIXED_KEY_OF_TYPE.get(name) if field is None else getattr(envelope.data, field)


def check_source(envelope: Envelope) -> None:
    """`source_mismatch` if this source kind may not send this type, or the named field is not source.id."""
    allowed = SOURCE_KINDS_OF_TYPE[name_of(envelope)]
    if envelope.source.kind not in allowed:
        raise _violation(
            "source_mismatch",
            "source.kind",
            "source_kind",
            f"{envelope.source.kind!r} may not send {envelope.type} (allowed: {', '.join(allowed)})",
            envelope.event_id,
        )
    field = SOURCE_ID_FIELD_OF_TYPE[name_of(envelope)]
    if field is not None and getattr(envelope.data, field) != envelope.source.id:
        raise _violation(
            "source_mismatch",
            f"data.{field}",
            "source_id",
            f"{getattr(envelope.data, field)!r} must equal source.id {envelope.source.id!r}",
            envelope.event_id,
        )


def check_size(raw: bytes | bytearray | memoryview) -> None:
    """`too_large` above MESSAGE_VALUE_BYTES_MAX (contract 8.4); such a value is not parsed at all."""
    if len(raw) > MESSAGE_VALUE_BYTES_MAX:
        raise ContractViolation(
            "too_large",
            f"the message value is {len(raw)} bytes; at most {MESSAGE_VALUE_BYTES_MAX} are accepted",
        )


def check_topic(envelope: Envelope, topic: str) -> None:
    """`wrong_topic` if the event travels on a topic that does not carry its type (contract 8.4)."""
    expected = TOPIC_OF_TYPE[name_of(envelope)]
    if topic != expected:
        raise ContractViolation(
            "wrong_topic", f"type: {envelope.type} travels on {expected}, not on {topic}", envelope.event_id
        )


def check_not_in_future(envelope: Envelope, now: datetime) -> None:
    """`occurred_in_future` if occurred_at is more than 5 minutes after `now` (an aware datetime)."""
    assert now.utcoffset() is not None, "now must be timezone-aware"
    if envelope.occurred_at - now > FUTURE_TOLERANCE:
        raise _violation(
            "occurred_in_future",
            "occurred_at",
            "not_in_future",
            f"{envelope.occurred_at.isoformat()} is more than 5 minutes after {now.isoformat()}",
            envelope.event_id,
        )


def _violation(reason: str, field: str, rule: str, message: str, event_id: UUID | None) -> ContractViolation:
    """A violation of one field's rule: its message names the field, and `errors` names field and rule
    (as a schema violation does), so a 400 over HTTP says which field failed."""
    return ContractViolation(
        reason, f"{field}: {message}", event_id, [{"field": field, "rule": rule, "message": message}]
    )


def _event_id_of(obj: dict[str, Any]) -> UUID | None:
    try:
        return as_uuid(obj.get("event_id"))
    except ValueError:
        return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        repeated = sorted(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
        raise ValueError(f"repeated key(s) in an object: {', '.join(repeated)}")
    return obj


__all__ = [
    "FUTURE_TOLERANCE",
    "DATA_MODEL_OF_TYPE",
    "ENVELOPE_OF_TYPE",
    "ContractViolation",
    "format_errors",
    "load_json",
    "parse_event",
    "dump_event",
    "canonical_hash",
    "key_of",
    "check_source",
    "check_not_in_future",
    "Envelope",
    "Source",
    "SchemeSource",
    "UntypedEvent",
    "SaleRecordedEvent",
    "SaleCancelledEvent",
    "CollectionLoggedEvent",
    "CustodyTransferredEvent",
    "LotDispatchedEvent",
    "LotReceivedEvent",
    "RecoveryConfirmedEvent",
    "TermsPublishedEvent",
    "PaymentRecordedEvent",
    "DepositsReleasedEvent",
    "DiscrepancyResolvedEvent",
    "DiscrepancyResolvedOutEvent",
    "BatteryRepurposedEvent",
    "BatteryRoutedEvent",
    "RefundInstructedEvent",
    "EntryPostedEvent",
    "EventRejectedEvent",
    "DiscrepancyOpenedEvent",
    "ReconciliationCompletedEvent",
    "SaleRecorded",
    "SaleItem",
    "SaleCancelled",
    "CollectionLogged",
    "Refund",
    "CustodyTransferred",
    "Party",
    "LotDispatched",
    "LotReceived",
    "RecoveryConfirmed",
    "RecoveredMaterial",
    "TermsPublished",
    "PaymentRecorded",
    "Counterparty",
    "DepositsReleased",
    "DiscrepancyResolved",
    "DiscrepancyResolvedOut",
    "BatteryRepurposed",
    "BatteryRouted",
    "name_of",
    "RefundInstructed",
    "EntryPosted",
    "EntryLine",
    "EventRejected",
    "DiscrepancyOpened",
    "ReconciliationCompleted",
    "ReconciliationCheck",
]
