"""`takeback bench [--json]`: throughput and latency of the running stack against its raw ceilings."""
from __future__ import annotations

import asyncio

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.bench.runner import Bench
from services.cli.app import app, console, err, print_json, table
from services.cli.outcome import run_or_say
from services.common.settings import get_settings

DEFAULT_BATTERIES = 20_000  # about a minute on a 2-core machine with the whole stack on it


@app.command()
def bench(batteries: int = typer.Option(DEFAULT_BATTERIES, min=100, help="battery lives to drive"),
          rate: float = typer.Option(0, help="produce at most this many events a second (0: as fast as possible)"),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Drive battery lives through the running stack; print throughput, latency, ceilings, memory."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        tasks: dict[str, int] = {}

        def report(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total or None)
            progress.update(tasks[name], completed=done)

        result = run_or_say(lambda: asyncio.run(Bench(get_settings(), batteries, rate, report).run()), "bench")
    if as_json:
        print_json(result)
        return
    per_process = ("peak_rss_mb", "cpu_seconds")
    rows = [[k, v] for k, v in result.items() if k not in per_process]
    rows += [[f"{measure} {name}", value] for measure in per_process for name, value in result[measure].items()]
    console.print(table("takeback bench", ["measure", "value"], rows))
