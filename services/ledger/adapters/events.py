"""Events out of the ledger, as outbox messages: `entry.posted` and `reconciliation.completed`."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import orjson

from contracts import topics
from services.common.outbox import OutboxMessage
from services.ledger.domain.journal import Entry

SOURCE = {"kind": "scheme", "id": "ledger"}
RECONCILIATION_COMPLETED = "reconciliation.completed"
# Every run under one key: consumers read the runs in the order they happened.
RECONCILIATION_KEY = "ledger"


def entry_posted(entry: Entry, posted_at: datetime) -> OutboxMessage:
    """Contract section 4. Built as plain JSON: the entry was checked against the same rules (balanced,
    account names, amounts) when it was read, and validating each event again through the contract's
    model halved the posting rate; `tests/unit/test_ledger_domain.py` parses it with the contract's parser."""
    event_id, entry_id = entry.posted_event_id, str(entry.entry_id)
    event = {
        "event_id": str(event_id),
        "type": topics.ENTRY_POSTED,
        "version": 1,
        "occurred_at": posted_at.isoformat(),
        "source": SOURCE,
        "data": {
            "entry_id": entry_id,
            "kind": entry.kind,
            "caused_by": str(entry.caused_by),
            "lines": [
                {"account": account, "debit": debit, "credit": credit, "currency": currency}
                for account, currency, debit, credit in zip(
                    entry.accounts, entry.currencies, entry.debits, entry.credits
                )
            ],
        },
    }
    return OutboxMessage(event_id, topics.LEDGER, entry_id, orjson.dumps(event))


def reconciliation_completed(run_id: uuid.UUID, result: dict[str, Any]) -> OutboxMessage:
    """The envelope of section 4 around a reconciliation result (an addition to the catalogue)."""
    envelope = {
        "event_id": str(run_id),
        "type": RECONCILIATION_COMPLETED,
        "version": 1,
        "occurred_at": result["as_of"],
        "source": SOURCE,
        "data": {"run_id": str(run_id), **result},
    }
    value = json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()
    return OutboxMessage(run_id, topics.RECONCILIATIONS, RECONCILIATION_KEY, value)
