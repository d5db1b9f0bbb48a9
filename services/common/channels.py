"""PostgreSQL notification channels shared by the services.

`INBOX_CHANNEL`: the streams' batch transaction notifies it when it commits outcomes to
`scheme.inbox` (delivered at commit). The payload (`inbox_payload`) carries the outcome of each event
the batch decided, as the batch wrote it (the fields `GET /v1/events/{id}` reads back, in
`OUTCOME_FIELDS` order), and names the batch's other event ids (seen before: their outcome is in the
inbox already); a gateway answers its waiting requests (`Prefer: wait`) from the outcomes carried,
and reads the others. A batch whose outcomes do not fit in `INBOX_PAYLOAD_BYTES_MAX` names its ids
alone, or none for a batch with more than `INBOX_PAYLOAD_IDS_MAX`: then a gateway reads the outcomes
of all its waiting requests, else only of those it waits for among the ids named. The scheme's outbox
relay wakes on it too. (Any role of the database may listen: the payload holds no personal data,
only what the scheme's services read anyway.)

`LEDGER_OUTBOX_CHANNEL`: the ledger's transactions that write its outbox notify it; its relay wakes on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

import orjson

INBOX_CHANNEL = "takeback_inbox"
# The ledger's transactions that write its outbox notify it at commit: its relay looks then (the scheme's
# relay listens to INBOX_CHANNEL, which every batch that may write the scheme's outbox notifies).
LEDGER_OUTBOX_CHANNEL = "takeback_ledger_outbox"
INBOX_PAYLOAD_IDS_MAX = 200  # 37 characters an id: a payload stays under PostgreSQL's 8,000 bytes
INBOX_PAYLOAD_BYTES_MAX = 7_900  # PostgreSQL refuses a payload of 8,000 bytes or more
INBOX_PAYLOAD_OUTCOMES_MAX = 64  # an outcome takes over 150 bytes: more than this never fit, none is made
# An outcome carried by the payload: these fields of the gateway's `InboxRecord`, in this order (the
# content hash in hex).
OUTCOME_FIELDS = (
    "event_type",
    "outcome",
    "reason",
    "content_hash",
    "message",
    "taken_back",
    "source_kind",
    "source_id",
    "refund_amount",
    "refund_currency",
    "refund_method",
    "handling_fee",
)


def inbox_payload(event_ids: Iterable[UUID], outcomes: Mapping[UUID, Sequence[Any]] | None = None) -> str:
    """`{"o": {id: [OUTCOME_FIELDS...]}, "i": [the other ids]}` when the outcomes fit; else the ids,
    comma-separated; empty (read every waiting event) when there are too many to name."""
    ids = list(event_ids)
    if outcomes:
        others = [str(event_id) for event_id in ids if event_id not in outcomes]
        carried = orjson.dumps({"o": {str(k): list(v) for k, v in outcomes.items()}, "i": others})
        if len(carried) < INBOX_PAYLOAD_BYTES_MAX:
            return carried.decode()
    return ",".join(map(str, ids)) if len(ids) <= INBOX_PAYLOAD_IDS_MAX else ""


def inbox_payload_outcomes(payload: str) -> tuple[dict[UUID, tuple], list[UUID]] | None:
    """The outcomes a payload carries (each a tuple in `OUTCOME_FIELDS` order, the content hash as bytes)
    and the ids it names without one; None when it carries none (the ids alone, or nothing)."""
    if not payload.startswith("{"):
        return None
    try:
        body = orjson.loads(payload)
        outcomes = {}
        for text, fields in body["o"].items():
            values = list(fields)
            if len(values) != len(OUTCOME_FIELDS):
                return None
            values[3] = bytes.fromhex(values[3])
            outcomes[UUID(text)] = tuple(values)
        return outcomes, [UUID(text) for text in body["i"]]
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None


def inbox_payload_ids(payload: str) -> list[UUID] | None:
    """The ids a payload names; None when it names none or cannot be read: read every waiting event."""
    if not payload:
        return None
    try:
        return [UUID(text) for text in payload.split(",")]
    except ValueError:
        return None
