"""Outcomes as the stack records them (`scheme.inbox`), and the longest stall while events wait for one.

An event is pending from its first send attempt until its outcome appears. The
stall is the time since the last new outcome (or since events became pending),
while some are pending; the longest is the run's maximum stall.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg

from services.chaos.plan import NEW, Planned
from services.common.logging import get_logger
from services.common.outage import DATABASE_AWAY, QUERY_TIMEOUT_S

log = get_logger(__name__)
POLL_S = 0.25
PENDING_POLLED_MAX = 20_000  # ids asked about in one query


class OutcomeMonitor:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool
        self.pending: set[uuid.UUID] = set()
        self.outcomes = 0
        self.stall_max_s = 0.0
        self._stall_from = time.monotonic()
        self._stopped = False

    def attempted(self, item: Planned) -> None:
        if item.kind != NEW:
            return  # no inbox row of its own
        if not self.pending:
            self._stall_from = time.monotonic()
        self.pending.add(uuid.UUID(item.event_id))

    async def run(self) -> None:
        while not self._stopped:
            await self.poll_once()
            await asyncio.sleep(POLL_S)

    def stop(self) -> None:
        self._stopped = True

    async def poll_once(self) -> None:
        if not self.pending:
            return
        asked = list(self.pending)[:PENDING_POLLED_MAX]
        try:
            rows = await self.pool.fetch(
                "SELECT event_id FROM scheme.inbox WHERE event_id = ANY($1::uuid[])",
                asked,
                timeout=QUERY_TIMEOUT_S,
            )
        except DATABASE_AWAY as error:
            log.info("chaos_outcomes_unreadable", error=type(error).__name__)
            rows = []
        now = time.monotonic()
        if rows:
            self.pending.difference_update(row["event_id"] for row in rows)
            self.outcomes += len(rows)
            self._stall_from = now
        if self.pending:
            self.stall_max_s = max(self.stall_max_s, now - self._stall_from)

    def stall_s(self) -> float:
        """How long events have been waiting without a new outcome (0 when none waits)."""
        return time.monotonic() - self._stall_from if self.pending else 0.0

    async def settled(self, timeout_s: float) -> bool:
        """True once nothing is pending; False if something still is after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
        return not self.pending
