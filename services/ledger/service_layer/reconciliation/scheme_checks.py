"""Checks of the scheme's own records: every event accounted for, custody records consistent."""
from __future__ import annotations

import asyncpg

from services.ledger.domain.checks import Check, offenders
from services.ledger.service_layer.rows import jsonable
from services.ledger.service_layer.reconciliation.snapshot import Snapshot

OUTCOMES = ("applied", "rejected")


async def events_accounted(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Invariant 5: every event read ended applied or rejected (with a reason), never neither."""
    rows = await connection.fetch("SELECT outcome, count(*) AS events FROM scheme.inbox GROUP BY outcome")
    by_outcome = {row["outcome"]: row["events"] for row in rows}
    without_reason = await connection.fetchval(
        "SELECT count(*) FROM scheme.inbox WHERE outcome = 'rejected' AND reason IS NULL")
    total = sum(by_outcome.values())
    accounted = sum(by_outcome.get(outcome, 0) for outcome in OUTCOMES)
    by_type = await connection.fetch(
        "SELECT event_type, outcome, count(*) AS events FROM scheme.inbox GROUP BY 1, 2 ORDER BY 1, 2")
    return Check("events_accounted", accounted == total and without_reason == 0, total, accounted,
                 {"by_outcome": by_outcome, "rejected_without_reason": without_reason,
                  "by_type": [jsonable(row) for row in by_type]})


async def custody_consistent(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Each battery's state is the state of its last custody record (seq = history_length), with none after it.

    A battery changed behind the scheme's back (its row edited, no history written) fails, named.
    """
    rows = [jsonable(row) for row in await connection.fetch("""
        SELECT b.serial, b.state, h.state AS last_recorded_state, b.history_length,
               EXISTS (SELECT 1 FROM scheme.custody_history x
                        WHERE x.serial = b.serial AND x.seq > b.history_length) AS records_after_last
          FROM scheme.batteries b
          LEFT JOIN scheme.custody_history h ON h.serial = b.serial AND h.seq = b.history_length
         WHERE h.serial IS NULL OR h.state <> b.state
            OR EXISTS (SELECT 1 FROM scheme.custody_history x WHERE x.serial = b.serial AND x.seq > b.history_length)
         ORDER BY h.at DESC NULLS FIRST, b.serial""")]
    batteries = await connection.fetchval("SELECT count(*) FROM scheme.batteries")
    return Check("custody_consistent", not rows, 0, len(rows),
                 {"batteries": batteries, "inconsistent": offenders(rows)})
