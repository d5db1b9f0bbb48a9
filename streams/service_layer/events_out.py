"""Events out (contract section 4): envelopes with ids stable across retries of the same effect."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime

import orjson

from contracts import topics
from contracts.limits import (
    REJECTION_KEY_BYTES_MAX,
    REJECTION_MESSAGE_CHARS_MAX,
    REJECTION_ORIGINAL_BYTES_MAX,
)
from contracts.postings import POSTINGS_PER_MESSAGE_MAX
from services.common.ids import stable_id
from services.common.outbox import OutboxMessage
from streams.domain.postings import Posting

SOURCE = {"kind": "scheme", "id": "streams"}


def _message(event_type: str, event_id: str, key: str, data: dict) -> OutboxMessage:
    """`event_type` is the catalogue name (e.g. `topics.DISCREPANCY_RESOLVED_OUT`), written as its wire
    type."""
    envelope = {
        "event_id": str(event_id),
        "type": topics.wire_type(event_type),
        "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": SOURCE,
        "data": data,
    }
    value = orjson.dumps(envelope, default=str)  # Decimal masses as strings, as before
    return OutboxMessage(event_id, topics.TOPIC_OF_TYPE[event_type], key, value)


def refund_instructed(
    refund_id: uuid.UUID,
    serial: str,
    centre_id: str,
    amount: int,
    currency: str,
    method: str,
    payee_ref: str | None,
    caused_by: uuid.UUID,
) -> OutboxMessage:
    return _message(
        "refund.instructed",
        stable_id("refund.instructed", caused_by),
        serial,
        {
            "refund_id": str(refund_id),
            "serial": serial,
            "centre_id": centre_id,
            "amount": amount,
            "currency": currency,
            "method": method,
            "payee_ref": payee_ref,
            "caused_by": str(caused_by),
        },
    )


def discrepancy_opened(
    discrepancy_id: uuid.UUID, kind: str, subject: str, details: dict, caused_by: uuid.UUID
) -> OutboxMessage:
    return _message(
        "discrepancy.opened",
        stable_id("discrepancy.opened", discrepancy_id),
        subject,
        {
            "discrepancy_id": str(discrepancy_id),
            "kind": kind,
            "subject": subject,
            "details": details,
            "caused_by": str(caused_by),
        },
    )


def discrepancy_resolved(
    discrepancy_id: uuid.UUID, kind: str, resolution: str, caused_by: uuid.UUID
) -> OutboxMessage:
    """Contract 8.1, on takeback.discrepancies under the discrepancy's id."""
    return _message(
        topics.DISCREPANCY_RESOLVED_OUT,
        stable_id("discrepancy.resolved", discrepancy_id),
        str(discrepancy_id),
        {
            "discrepancy_id": str(discrepancy_id),
            "kind": kind,
            "resolution": resolution,
            "caused_by": str(caused_by),
        },
    )


def battery_routed(
    serial: str, route: str, state_of_health_pct: int | None, caused_by: uuid.UUID
) -> OutboxMessage:
    """Contract 8.3, on takeback.routing under the serial: one per applied collection, its id from it."""
    return _message(
        topics.BATTERY_ROUTED,
        stable_id("battery.routed", caused_by),
        serial,
        {
            "serial": serial,
            "route": route,
            "state_of_health_pct": state_of_health_pct,
            "caused_by": str(caused_by),
        },
    )


def event_rejected(
    rejection_id: uuid.UUID,
    rejected_event_id: uuid.UUID | None,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    reason: str,
    message: str,
    raw: bytes,
) -> OutboxMessage:
    """A rejection that always fits: the original cut to a bounded prefix, with its length and SHA-256."""
    return _message(
        "event.rejected",
        rejection_id,
        bounded_key(key),
        {
            "rejected_event_id": str(rejected_event_id) if rejected_event_id else None,
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "reason": reason,
            "message": message[:REJECTION_MESSAGE_CHARS_MAX],
            **original_of(raw),
        },
    )


def bounded_key(key: bytes | None) -> str:
    return (key or b"")[:REJECTION_KEY_BYTES_MAX].decode("utf-8", "ignore")


def original_of(raw: bytes) -> dict:
    """`original` (UTF-8 text, else base64) of at most REJECTION_ORIGINAL_BYTES_MAX characters, and what
    it cuts."""
    text = _utf8_prefix(raw)
    if text is None:  # base64 of a prefix whose encoding fits the bound
        prefix = raw[: REJECTION_ORIGINAL_BYTES_MAX // 4 * 3]
        text, kept = base64.b64encode(prefix).decode("ascii"), len(prefix)
    else:
        kept = len(text.encode("utf-8"))
    return {
        "original": text,
        "original_bytes": len(raw),
        "original_sha256": hashlib.sha256(raw).hexdigest(),
        "original_truncated": kept < len(raw),
    }


def _utf8_prefix(raw: bytes) -> str | None:
    """The value's first bytes as text, without a character cut in two at the end; None if not UTF-8."""
    cut = raw[:REJECTION_ORIGINAL_BYTES_MAX]
    try:
        return cut.decode("utf-8")
    except UnicodeDecodeError as error:
        if len(cut) == len(raw) or error.reason != "unexpected end of data":
            return None
        try:
            return cut[: error.start].decode("utf-8")
        except UnicodeDecodeError:
            return None


def postings_requested(postings: list[Posting]) -> list[OutboxMessage]:
    """The batch's postings as `PostingBatch` messages of at most POSTINGS_PER_MESSAGE_MAX each.

    A message's id and key derive from the posting keys it carries (unique in
    the scheme), so the same postings make the same message.
    """
    messages = []
    for start in range(0, len(postings), POSTINGS_PER_MESSAGE_MAX):
        chunk = postings[start : start + POSTINGS_PER_MESSAGE_MAX]
        message_id = stable_id("postings", chunk[0].posting_key, chunk[-1].posting_key, len(chunk))
        value = b'{"postings":[' + b",".join(p.to_json() for p in chunk) + b"]}"
        messages.append(OutboxMessage(message_id, topics.POSTINGS, message_id, value))
    return messages
