"""The stack's own reconciliation, in full, as the run's last word on the books."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass

import asyncpg

from services.common.outage import DATABASE_AWAY
from services.ledger.service_layer.reconciliation import reconcile

OFFSETS_CHECK = "offsets_accounted"
SETTLE_ATTEMPTS_MAX = 6  # a check may still see the last postings in flight just after the drain
SETTLE_WAIT_S = 5.0


@dataclass(frozen=True)
class Reconciliation:
    status: str
    failing: tuple[str, ...]
    offsets_accounted: str  # "ok", "failed", or "absent" (a stack without that check)

    @property
    def balanced(self) -> bool:
        return self.status == "balanced"


async def reconcile_full(pool: asyncpg.Pool) -> Reconciliation:
    """`reconcile` in full mode where it has modes; retried while it settles after the drain."""
    full = {"mode": "full"} if "mode" in inspect.signature(reconcile).parameters else {}
    result = None
    for attempt in range(1, SETTLE_ATTEMPTS_MAX + 1):
        try:
            result = await reconcile(pool, **full)
        except DATABASE_AWAY:
            result = None
        if result is not None and result["status"] == "balanced":
            break
        if attempt < SETTLE_ATTEMPTS_MAX:
            await asyncio.sleep(SETTLE_WAIT_S)
    if result is None:
        return Reconciliation("unreadable", (), "absent")
    checks = {c["name"]: c["ok"] for c in result["checks"]}
    offsets = "absent" if OFFSETS_CHECK not in checks else ("ok" if checks[OFFSETS_CHECK] else "failed")
    return Reconciliation(result["status"], tuple(n for n, ok in checks.items() if not ok), offsets)
