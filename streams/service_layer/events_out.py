"""Events out (contract section 4): envelopes with ids stable across retries of the same effect."""
from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime, timezone

import orjson

from contracts import topics
from contracts.postings import POSTINGS_PER_MESSAGE_MAX
from services.common.outbox import OutboxMessage
from streams.domain.postings import Posting

NAMESPACE = uuid.UUID("0b4f3e64-8d6c-4f0e-9a55-3f5e0c1d2b7a")
SOURCE = {"kind": "scheme", "id": "streams"}


_NAMESPACE_BYTES = NAMESPACE.bytes


def stable_id(*parts: object) -> str:
    """uuid5(NAMESPACE, "a:b:c") as text, without building UUID objects on the hot path."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + ":".join(map(str, parts)).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _message(event_type: str, event_id: str, key: str, data: dict) -> OutboxMessage:
    envelope = {
        "event_id": str(event_id), "type": event_type, "version": 1,
        "occurred_at": datetime.now(timezone.utc).isoformat(), "source": SOURCE, "data": data,
    }
    value = orjson.dumps(envelope, default=str)  # Decimal masses as strings, as before
    return OutboxMessage(event_id, topics.TOPIC_OF_TYPE[event_type], key, value)


def refund_instructed(refund_id: uuid.UUID, serial: str, centre_id: str, amount: int, currency: str,
                      method: str, payee_ref: str | None, caused_by: uuid.UUID) -> OutboxMessage:
    return _message("refund.instructed", stable_id("refund.instructed", caused_by), serial, {
        "refund_id": str(refund_id), "serial": serial, "centre_id": centre_id, "amount": amount,
        "currency": currency, "method": method, "payee_ref": payee_ref, "caused_by": str(caused_by)})


def discrepancy_opened(discrepancy_id: uuid.UUID, kind: str, subject: str, details: dict,
                       caused_by: uuid.UUID) -> OutboxMessage:
    return _message("discrepancy.opened", stable_id("discrepancy.opened", discrepancy_id), subject, {
        "discrepancy_id": str(discrepancy_id), "kind": kind, "subject": subject, "details": details,
        "caused_by": str(caused_by)})


def event_rejected(rejection_id: uuid.UUID, rejected_event_id: uuid.UUID | None, topic: str, partition: int,
                   offset: int, key: bytes | None, reason: str, message: str, raw: bytes) -> OutboxMessage:
    try:
        original = raw.decode("utf-8")
    except UnicodeDecodeError:
        original = base64.b64encode(raw).decode("ascii")
    return _message("event.rejected", rejection_id, (key or b"").decode("utf-8", "replace"), {
        "rejected_event_id": str(rejected_event_id) if rejected_event_id else None, "topic": topic,
        "partition": partition, "offset": offset, "reason": reason, "message": message, "original": original})


def postings_requested(postings: list[Posting]) -> list[OutboxMessage]:
    """The batch's postings as `PostingBatch` messages of at most POSTINGS_PER_MESSAGE_MAX each.

    A message's id and key derive from the posting keys it carries (unique in
    the scheme), so the same postings make the same message.
    """
    messages = []
    for start in range(0, len(postings), POSTINGS_PER_MESSAGE_MAX):
        chunk = postings[start:start + POSTINGS_PER_MESSAGE_MAX]
        message_id = stable_id("postings", chunk[0].posting_key, chunk[-1].posting_key, len(chunk))
        value = b'{"postings":[' + b",".join(p.to_json() for p in chunk) + b"]}"
        messages.append(OutboxMessage(message_id, topics.POSTINGS, message_id, value))
    return messages
