"""What the holder of a key may do: send its own source's events, and (finance) read the books.

Sending: the key's kind must be one that may send the event type
(`contracts.topics.SOURCE_KINDS_OF_TYPE`); the envelope's source must be the key's
own; and the data field that names the sender (e.g. `store_id`) must be the key's id.
Reading: any valid key may read a battery; only finance keys read finance and reports.
"""

from __future__ import annotations

from typing import Any

from contracts.events import Envelope
from contracts.topics import SOURCE_ID_FIELD_OF_TYPE, SOURCE_KINDS_OF_TYPE
from services.gateway.domain.errors import Forbidden
from services.gateway.domain.keys import KeyHolder


def authorise_claim(holder: KeyHolder, event_type: str, source: Any) -> None:
    """Refuse (403) from what an event not yet validated claims: a type this key's kind may not send, or a
    source (kind and id, if both are strings) other than the key's. What is malformed is left to validation,
    so a key learns nothing of how the events it may not send are checked."""
    allowed = SOURCE_KINDS_OF_TYPE[event_type]
    if holder.source_kind not in allowed:
        raise Forbidden(
            "type_not_allowed",
            f"a {holder.source_kind} key may not send {event_type} (only {', '.join(allowed)})",
            event_type=event_type,
        )
    if (
        not isinstance(source, dict)
        or not isinstance(source.get("kind"), str)
        or not isinstance(source.get("id"), str)
    ):
        return
    if (source["kind"], source["id"]) != (holder.source_kind, holder.source_id):
        raise Forbidden(
            "not_your_source",
            f"source {source['kind'][:64]}/{source['id'][:64]} is not this key's source "
            f"{holder.source_kind}/{holder.source_id}",
            event_type=event_type,
        )


def authorise_sending(holder: KeyHolder, envelope: Envelope) -> None:
    """Refuse (403) unless this key may send this event, as this source."""
    event_type = envelope.type
    authorise_claim(holder, event_type, {"kind": envelope.source.kind, "id": envelope.source.id})
    field = SOURCE_ID_FIELD_OF_TYPE[event_type]
    if field is not None and getattr(envelope.data, field) != holder.source_id:
        message = f"{getattr(envelope.data, field)!r} must be this key's source id {holder.source_id!r}"
        raise Forbidden(
            "source_mismatch",
            f"data.{field}: {message}",
            [{"field": f"data.{field}", "rule": "source_id", "message": message}],
            event_type=event_type,
        )


def authorise_finance_reading(holder: KeyHolder) -> None:
    """Refuse (403) unless this is a finance key."""
    if holder.role != "finance":
        raise Forbidden(
            "finance_only",
            f"finance and report endpoints need a finance key; this is a {holder.role} key "
            f"of {holder.source_kind}/{holder.source_id}",
        )


def authorise_battery_reading(holder: KeyHolder) -> None:
    """Any valid key may read a battery's state and custody (a holder needs it to act on it)."""
    assert holder.key_id, "only a verified holder reaches authorisation"
