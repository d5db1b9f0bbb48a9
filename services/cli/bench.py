"""`takeback bench [--json]`: throughput and latency of the running stack against its raw ceilings."""

from __future__ import annotations

import asyncio

import typer
import uvloop
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.bench.http_bench import HttpBench
from services.bench.runner import Bench
from services.cli.app import app, console, err, print_json, table
from services.cli.outcome import run_or_say
from services.common.settings import get_settings

DEFAULT_BATTERIES = 20_000  # about a minute on a 2-core machine with the whole stack on it
DEFAULT_REQUESTS = 5_000  # events over HTTP in each of the two --gateway runs
DEFAULT_COLLECTIONS = 2_000  # collections with Prefer: wait in --counter (half at full speed, half at half)


@app.command()
def bench(
    batteries: int = typer.Option(DEFAULT_BATTERIES, min=100, help="battery lives to drive"),
    rate: float = typer.Option(
        0,
        min=0,
        help="produce at most this many events a second (0: as fast as possible); with --gateway or "
        "--counter: the rate of their second run (0: half the first run's)",
    ),
    gateway: bool = typer.Option(
        False,
        "--gateway",
        help="instead: the gateway's accept rate over "
        "HTTP with 50 in flight, and its latency at half that rate",
    ),
    counter: bool = typer.Option(
        False,
        "--counter",
        help="instead: Prefer: wait decisions of "
        "collections over HTTP, the most a second and p50/p99 at half that rate",
    ),
    waiters: int = typer.Option(
        0,
        "--waiters",
        min=0,
        help="instead (with --gateway/--counter: also): this many collections over HTTP at once with "
        "Prefer: wait=10; answered, right, 5xx, time to the answer, the gateway's memory",
    ),
    requests: int = typer.Option(DEFAULT_REQUESTS, min=100, help="events in each --gateway run"),
    collections: int = typer.Option(DEFAULT_COLLECTIONS, min=100, help="collections in --counter"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Drive battery lives through the running stack; print throughput, latency, ceilings, memory.
    With --gateway, --counter and/or --waiters, measure those over HTTP instead."""
    if gateway or counter or waiters:
        result = _over_http(gateway and requests, counter and collections, waiters, rate)
        if as_json:
            print_json(result)
            return
        for name, figures in result.items():
            rows = [[measure, value] for measure, value in _flat(figures)]
            console.print(table(f"takeback bench --{name}", ["measure", "value"], rows))
        return
    with _progress() as report:
        result = run_or_say(
            lambda: asyncio.run(Bench(get_settings(), batteries, rate, report).run()), "bench"
        )
    if as_json:
        print_json(result)
        return
    per_process = ("peak_rss_mb", "cpu_seconds")
    rows = [[k, v] for k, v in result.items() if k not in per_process]
    rows += [
        [f"{measure} {name}", value] for measure in per_process for name, value in result[measure].items()
    ]
    console.print(table("takeback bench", ["measure", "value"], rows))


def _flat(figures: dict, prefix: str = ""):
    """(measure, value) rows; a figure by process (`gateway_peak_rss_mb`) as one row per process."""
    for measure, value in figures.items():
        if isinstance(value, dict) and measure.endswith("_mb"):
            yield from _flat(value, f"{prefix}{measure} ")
        else:
            yield f"{prefix}{measure}", value


def _over_http(requests: int, collections: int, waiters: int = 0, rate: float = 0) -> dict:
    async def run(report) -> dict:
        bench, result = HttpBench(get_settings(), report), {}
        if requests:
            result["gateway"] = await bench.gateway(requests, rate)
        if collections:
            result["counter"] = await bench.counter(collections, rate)
        if waiters:
            result["waiters"] = await bench.waiters(waiters)
        return result

    with _progress() as report:  # on the native event loop the gateway runs on: a lighter load generator
        return run_or_say(lambda: uvloop.run(run(report)), "bench")


class _progress:
    """One progress line per phase, on stderr, gone when the run ends."""

    def __enter__(self):
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self.progress.__enter__()
        tasks: dict[str, int] = {}

        def report(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = self.progress.add_task(name, total=total or None)
            self.progress.update(tasks[name], completed=done)

        return report

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)
