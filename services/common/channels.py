"""PostgreSQL notification channels shared by the services.

`INBOX_CHANNEL`: the streams' batch transaction notifies it when it commits outcomes to
`scheme.inbox` (delivered at commit), the payload naming the batch's event ids (`inbox_payload`),
or empty for a batch with more than `INBOX_PAYLOAD_IDS_MAX`: then a gateway reads the outcomes of
all its waiting requests (`Prefer: wait`), else only of those it waits for among the ids named. The
scheme's outbox relay wakes on it too.

`LEDGER_OUTBOX_CHANNEL`: the ledger's transactions that write its outbox notify it; its relay wakes on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

INBOX_CHANNEL = "takeback_inbox"
# The ledger's transactions that write its outbox notify it at commit: its relay looks then (the scheme's
# relay listens to INBOX_CHANNEL, which every batch that may write the scheme's outbox notifies).
LEDGER_OUTBOX_CHANNEL = "takeback_ledger_outbox"
INBOX_PAYLOAD_IDS_MAX = 200  # 37 characters an id: a payload stays under PostgreSQL's 8,000 bytes


def inbox_payload(event_ids: Iterable[UUID]) -> str:
    """The ids, comma-separated; empty (read every waiting event) when there are too many to name."""
    named = [str(event_id) for event_id in event_ids]
    return ",".join(named) if len(named) <= INBOX_PAYLOAD_IDS_MAX else ""


def inbox_payload_ids(payload: str) -> list[UUID] | None:
    """The ids a payload names; None when it names none or cannot be read: read every waiting event."""
    if not payload:
        return None
    try:
        return [UUID(text) for text in payload.split(",")]
    except ValueError:
        return None
