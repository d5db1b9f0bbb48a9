"""`takeback bench --json` prints the figures it promises; the soak run is one command away (`-m slow`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.bench import scenario

TAKEBACK = str(Path(sys.executable).parent / "takeback")
PROMISED = {
    "events",
    "events_per_second",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "ceiling_kafka_events_per_second",
    "ceiling_postgres_events_per_second",
    "peak_rss_mb",
}


def bench(batteries: int) -> dict:
    run = subprocess.run(
        [TAKEBACK, "bench", "--batteries", str(batteries), "--json"],
        capture_output=True,
        text=True,
        timeout=3600,
        env=os.environ,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


def test_bench_prints_every_promised_figure_for_a_small_run(stack):
    result = bench(200)
    assert PROMISED <= set(result)
    assert result["events"] == 200 // scenario.ITEMS_PER_SALE + 200 + 3 * (200 // scenario.BATTERIES_PER_LOT)
    assert result["journal_entries"] == scenario.expected_entries(200)
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert result["events_per_second"] > 0 and result["ceiling_kafka_events_per_second"] > 0
    assert {"streams", "ledger", "kafka", "postgres"} <= set(result["peak_rss_mb"])
    working = {
        name: seconds
        for name, seconds in result["cpu_seconds"].items()
        if name in ("streams", "postgres", "bench")
    }
    assert len(working) == 3 and all(seconds > 0 for seconds in working.values()), result["cpu_seconds"]
    assert result["cpu_ms_per_event"] == round(
        sum(result["cpu_seconds"].values()) * 1000 / result["events"], 3
    )


@pytest.mark.slow
def test_soak_a_hundred_thousand_lives(stack):
    """Prints the figures of a longer run; run with `.venv/bin/python -m pytest -m slow -s`."""
    result = bench(100_000)
    print(json.dumps(result, indent=2))
    assert result["journal_entries"] == scenario.expected_entries(100_000)
