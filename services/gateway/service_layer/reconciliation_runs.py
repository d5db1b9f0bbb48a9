"""Reconciliation on request: one run at a time, at most one more queued; reads serve the latest stored run.

A full run reads the whole journal (seconds at a million batteries; an incremental
run reads what changed since the latest stored run), so a read never starts one:
`GET /v1/finance/reconciliation` serves the latest completed run
(the ledger leader's periodic ones, and these). Finance asks for a fresh one with
`request()`: it is queued, and every request made while it waits gets the same run
(its snapshot is taken after each of them), so at most one run is running and one
waiting, whatever the number of requests. Runs on request take at most
`ON_DEMAND_SHARE_MAX` of a core: after a run of t seconds the next waits t * (1/share - 1).

They run here, in the gateway, as one background task: no table to poll, no change
to the ledger's worker, and the gateway needs no more than to read the books (as it
does for /v1/finance/*) and to insert its runs into `ledger.reconciliation_runs`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from services.common.logging import get_logger
from services.gateway.domain.errors import ReconciliationUnavailable
from services.gateway.service_layer.ports import ReconciliationRuns

log = get_logger(__name__)
RUNS_REMEMBERED_MAX = 100  # runs made here whose state is kept in memory (a few hundred bytes each)
ON_DEMAND_SHARE_MAX = 0.25  # of one core, at most, for runs on request

RunState = Literal["queued", "running", "completed", "failed"]


@dataclass
class Run:
    run_id: uuid.UUID
    requested_at: datetime
    state: RunState = "queued"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": str(self.run_id),
            "state": self.state,
            "requested_at": _iso(self.requested_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "error": self.error,
        }


class ReconciliationRunner:
    def __init__(
        self,
        reconcile: Callable[[], Awaitable[dict[str, Any]]],
        runs: ReconciliationRuns,
        share_max: float = ON_DEMAND_SHARE_MAX,
        on_finished: Callable[[str], None] = lambda outcome: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert 0 < share_max <= 1, "a share of one core"
        self.reconcile, self.runs, self.share_max, self.on_finished, self.clock = (
            reconcile,
            runs,
            share_max,
            on_finished,
            clock,
        )
        self._queued: Run | None = None
        self._running: Run | None = None
        self._task: asyncio.Task | None = None
        self._next_start_at = float("-inf")
        self._remembered: OrderedDict[uuid.UUID, Run] = OrderedDict()

    def request(self) -> Run:
        """The run that will answer this request: the one already queued, or a new one."""
        if self._queued is not None:
            return self._queued
        run = self._queued = Run(uuid.uuid4(), datetime.now(UTC))
        self._remember(run)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        assert self._queued is run, "one run waits at most"
        return run

    def find(self, run_id: uuid.UUID) -> Run | None:
        return self._remembered.get(run_id)

    async def latest_or_made_now(self) -> dict[str, Any]:
        """The latest stored run; if there is none yet, one made now (every caller waits for the same run)."""
        latest = await self.runs.latest()
        if latest is not None:
            return latest
        run = self._running or self.request()
        await run.finished.wait()
        latest = await self.runs.latest()
        if latest is None:
            raise ReconciliationUnavailable(
                "reconciliation_unavailable", f"no reconciliation run could be made ({run.error}); retry"
            )
        return latest

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _drain(self) -> None:
        while self._queued is not None:
            await asyncio.sleep(max(0.0, self._next_start_at - self.clock()))
            run, self._queued = self._queued, None
            await self._run(run)

    async def _run(self, run: Run) -> None:
        self._running, run.state, run.started_at = run, "running", datetime.now(UTC)
        started = self.clock()
        try:
            result = await self.reconcile()
            await self.runs.store(run.run_id, result)
            run.state = "completed"
            log.info(
                "reconciliation_run_completed",
                run_id=str(run.run_id),
                status=result["status"],
                took_s=round(self.clock() - started, 2),
            )
        except Exception as error:  # noqa: BLE001  a failed run is reported on the run; the gateway goes on
            run.state, run.error = (
                "failed",
                f"the run failed ({type(error).__name__}); the gateway logged why",
            )
            log.error("reconciliation_run_failed", run_id=str(run.run_id), exc_info=error)
        finally:
            if run.state == "running":  # cancelled: the gateway is stopping
                run.state, run.error = "failed", "the gateway stopped during the run"
            took_s = self.clock() - started
            self._next_start_at = self.clock() + took_s * (1 / self.share_max - 1)
            self._running, run.finished_at = None, datetime.now(UTC)
            self.on_finished(run.state)
            run.finished.set()

    def _remember(self, run: Run) -> None:
        self._remembered[run.run_id] = run
        while len(self._remembered) > RUNS_REMEMBERED_MAX:
            self._remembered.popitem(last=False)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
