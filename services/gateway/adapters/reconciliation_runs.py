"""Reconciliation runs in PostgreSQL (`ledger.reconciliation_runs`): the latest, one by id, a new one stored.

The ledger's leader stores its periodic runs there too; the gateway reads them all
and adds the runs finance asks for. The result is the contract's body, as jsonb.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

READ_TIMEOUT_S = 5.0

_LATEST_SQL = "SELECT run_id, result FROM ledger.reconciliation_runs ORDER BY as_of DESC, run_id LIMIT 1"
_BY_ID_SQL = "SELECT run_id, result FROM ledger.reconciliation_runs WHERE run_id = $1"
# Stored and published on takeback.reconciliations in one transaction (revision 0013); with the run's mode,
# watermark and carried totals, where the next incremental run starts (revision 0015).
_STORE_SQL = "SELECT ledger.record_reconciliation_run($1, $2::jsonb)"
_STORE_WITH_STATE_SQL = (
    "SELECT ledger.record_reconciliation_run($1, $2::jsonb, $3, $4::text::pg_snapshot, $5::jsonb)"
)


class PostgresReconciliationRuns:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def latest(self) -> dict[str, Any] | None:
        """The run with the latest `as_of`, its result with its `run_id`; None if there is none."""
        return _with_id(await self.pool.fetchrow(_LATEST_SQL, timeout=READ_TIMEOUT_S))

    async def get(self, run_id: UUID) -> dict[str, Any] | None:
        return _with_id(await self.pool.fetchrow(_BY_ID_SQL, run_id, timeout=READ_TIMEOUT_S))

    async def store(self, run_id: UUID, result: dict[str, Any]) -> None:
        """The body; and, for a run that carries state (the ledger's `Reconciled`), its state with it."""
        watermark = getattr(result, "watermark", None)
        if watermark is None:
            await self.pool.execute(_STORE_SQL, run_id, result)
            return
        await self.pool.execute(
            _STORE_WITH_STATE_SQL, run_id, dict(result), result.mode, watermark, result.carried
        )


class InMemoryReconciliationRuns:
    def __init__(self) -> None:
        self.runs: dict[UUID, dict[str, Any]] = {}

    async def latest(self) -> dict[str, Any] | None:
        if not self.runs:
            return None
        return max(self.runs.values(), key=lambda result: datetime.fromisoformat(result["as_of"]))

    async def get(self, run_id: UUID) -> dict[str, Any] | None:
        return self.runs.get(run_id)

    async def store(self, run_id: UUID, result: dict[str, Any]) -> None:
        assert run_id not in self.runs, "run ids are unique"
        self.runs[run_id] = {**result, "run_id": str(run_id)}


def _with_id(row: asyncpg.Record | None) -> dict[str, Any] | None:
    if row is None:
        return None
    result = row["result"]
    assert isinstance(result, dict), "a stored result is a JSON object"
    return {**result, "run_id": str(row["run_id"])}
