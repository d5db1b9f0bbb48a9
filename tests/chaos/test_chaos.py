"""Nothing lost, nothing doubled, the books balanced, no long stall: while workers, the gateway, a
broker (when there are several) and PostgreSQL die under a realistic load (`takeback chaos`).

Runs last in the default suite (it kills parts of the test stack); alone with `pytest -m chaos`.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from services.chaos.killer import bring_back
from services.chaos.report import STALL_LIMIT_S
from services.chaos.runner import Chaos

pytestmark = [pytest.mark.chaos, pytest.mark.restarts_stack]

EVENTS = 20_000
KILLS = 10
SEED = 11
EXTRA_COPIES_PCT_MAX = 1.0  # contract 8.4: copies of events out are rare, never the rule


async def test_kills_and_a_postgres_stop_lose_nothing_and_double_nothing(stack, settings):
    await asyncio.to_thread(bring_back, stack)  # whatever an earlier test left down
    report = await Chaos(settings, EVENTS, KILLS, SEED, progress=lambda *args: None).run()
    body = report.as_dict()
    print(json.dumps(body, indent=1))
    assert sum(body["kills"].values()) == KILLS, body["struck"]
    assert body["outages"]["postgres"] == 1, body["struck"]
    assert body["aborted"] is None
    assert (body["lost"], body["doubled"], body["wrong"]) == (0, 0, 0), body["problems"]
    assert body["reconciliation"] == "balanced", body["failing_checks"]
    assert body["offsets_accounted"] in ("ok", "absent")
    assert body["stall_max_s"] < STALL_LIMIT_S
    assert body["extra_copies_pct"] < EXTRA_COPIES_PCT_MAX
