"""`takeback chaos`: a realistic load through the running stack while its parts are killed; then the books."""

from __future__ import annotations

import asyncio

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.chaos.errors import ChaosError
from services.chaos.report import ChaosReport
from services.chaos.runner import Chaos
from services.cli.app import app, console, err, print_json, table
from services.cli.outcome import run_or_say
from services.common.settings import get_settings


@app.command()
def chaos(
    events: int = typer.Option(20_000, min=200, help="events to send (about; the lives decide)"),
    kills: int = typer.Option(10, min=0, max=1000, help="parts killed with SIGKILL during the run"),
    seed: int = typer.Option(1, help="seed of the load and of the kills' moments and targets"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Sales, returns, lots, recoveries while workers, the gateway, a broker, PostgreSQL die; then check."""
    report = run_or_say(lambda: _run(get_settings(), events, kills, seed), "chaos", (ChaosError,))
    if as_json:
        print_json(report.as_dict())
    else:
        show(report)
    if report.failures():
        raise typer.Exit(1)


def _run(settings, events: int, kills: int, seed: int) -> ChaosReport:
    """The run, with its progress on stderr (stdout keeps the table or the JSON)."""
    with Progress(
        TextColumn("{task.description:<26}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        tasks: dict[str, int] = {}

        def report(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=done, total=total)

        return asyncio.run(Chaos(settings, events, kills, seed, report).run())


def show(report: ChaosReport) -> None:
    body = report.as_dict()
    kills = ", ".join(f"{kind} {n}" for kind, n in sorted(body["kills"].items())) or "none"
    outages = ", ".join(f"{kind} {n}" for kind, n in body["outages"].items())
    rows = [
        [
            "events",
            f"{body['events']} ({body['events_kafka']} Kafka, {body['events_http']} HTTP; "
            f"{body['sends_again']} sends made again)",
        ],
        ["kills", f"{sum(body['kills'].values())}: {kills}"],
        ["outages", outages],
        [
            "died on their own",
            ", ".join(f"{name} {n}" for name, n in sorted(body["died_on_their_own"].items())) or "none",
        ],
        ["lost", f"{body['lost']} (of which events out never published: {body['events_out_missing']})"],
        ["doubled (in the books)", body["doubled"]],
        ["other than the model", body["wrong"]],
        ["reconciliation", f"{body['reconciliation']} (offsets_accounted: {body['offsets_accounted']})"],
        [
            "extra copies out",
            f"{body['extra_copies']} of {body['events_out']} events out ({body['extra_copies_pct']} %)",
        ],
        ["maximum stall", f"{body['stall_max_s']} s"],
        ["duration", f"{body['duration_s']} s"],
    ]
    colour = "green" if body["passed"] else "red"
    verdict = "passed" if body["passed"] else "failed: " + "; ".join(body["failures"])
    console.print(
        table(
            f"takeback chaos (run {body['run']}, seed {body['seed']}): [{colour}]{verdict}[/]",
            ["measure", "value"],
            rows,
        )
    )
    for problem in body["problems"]:
        console.print(f"  [red]{problem}[/]")
