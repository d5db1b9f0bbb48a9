"""The drivers of the running stack (`takeback demo`, `takeback bench`) wait out a restart of
PostgreSQL or Kafka: they send again with the same event ids, poll again, and end as they would have."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from infra.local.stack import Stack
from services.demo.runner import Demo

pytestmark = pytest.mark.restarts_stack

OUTAGE_S = 3.0
ENTRIES_UNDER_WAY = 100
BENCH_BATTERIES = 3000
TAKEBACK = str(Path(sys.executable).parent / "takeback")


class Phases:
    """The demo's progress: an event set once it reaches a phase whose name starts with `prefix`."""

    def __init__(self, prefix: str):
        self.prefix, self.reached = prefix, asyncio.Event()

    def __call__(self, name: str, done: int, total: int) -> None:
        if name.startswith(self.prefix):
            self.reached.set()


async def test_the_demo_waits_out_a_postgres_restart_and_ends_balanced(stack, settings):
    phases = Phases("month  2/3")
    run = asyncio.create_task(Demo(settings, batteries=300, months=3, seed=7, progress=phases).run_all())
    await asyncio.wait_for(phases.reached.wait(), timeout=300)
    cluster = stack.local_cluster()
    await asyncio.to_thread(cluster.stop)  # mid-month: sends, polls and the workers all meet it
    await asyncio.sleep(OUTAGE_S)
    await asyncio.to_thread(cluster.start)
    results = await asyncio.wait_for(run, timeout=600)
    assert results["reconciliation"]["status"] == "balanced", [
        c["name"] for c in results["reconciliation"]["checks"] if not c["ok"]
    ]
    assert results["events_sent"] > 0 and results["lots"] > 0


def test_the_bench_waits_out_a_kafka_restart_and_posts_every_entry(stack, settings):
    """`takeback bench` as a person runs it; the broker restarts mid-run; it ends with its figures."""
    bench = subprocess.Popen(
        [TAKEBACK, "bench", "--batteries", str(BENCH_BATTERIES), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    try:
        _wait_for_entries_to_flow(settings)
        stack.kafka.stop()
        assert bench.poll() is None, "the bench ended before the broker went away"
        Stack(settings, say=lambda message: None).up()  # the broker back, and whatever left with it
        stdout, stderr = bench.communicate(timeout=900)
    finally:
        bench.kill()
    assert bench.returncode == 0, stderr[-2000:]
    assert "Traceback" not in stderr
    assert '"journal_entries"' in stdout


def _wait_for_entries_to_flow(settings, timeout_s: float = 300.0) -> None:
    """Until the ledger posts the bench's first entries: the run is well under way."""
    before = asyncio.run(_entries(settings.database_url))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if asyncio.run(_entries(settings.database_url)) >= before + ENTRIES_UNDER_WAY:
            return
        time.sleep(0.5)
    raise AssertionError(f"the bench posted nothing within {timeout_s:.0f} s")


async def _entries(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval("SELECT count(*) FROM ledger.entries")
    finally:
        await connection.close()
