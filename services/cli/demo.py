"""`takeback demo`: a realistic year of the scheme through the running stack, then the books."""

from __future__ import annotations

import asyncio

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.cli import report_tables as tables
from services.cli.app import app, console, err, print_json
from services.cli.outcome import run_or_say
from services.common.money import money_text
from services.common.settings import get_settings
from services.demo.runner import Demo


@app.command()
def demo(
    batteries: int = typer.Option(3000, min=50, help="batteries sold over the simulated months"),
    months: int = typer.Option(12, min=4, max=60, help="simulated months"),
    seed: int = typer.Option(7, help="random seed of the scenario"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Stores, centres, a transporter and the recycler over months; ends with reconciliation and finance."""
    with Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        tasks: dict[str, int] = {}

        def report(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=done, total=total)

        results = run_or_say(
            lambda: asyncio.run(Demo(get_settings(), batteries, months, seed, report).run_all()), "demo"
        )
    if as_json:
        print_json(results)
    else:
        show(results)
    if results["reconciliation"]["status"] != "balanced":
        raise typer.Exit(1)


def show(results: dict) -> None:
    say_what_was_there(results.get("before"))
    console.print(
        f"\n[bold]{results['events_sent']:,}[/] events sent for {results['batteries']:,} batteries "
        f"and {results['lots']:,} lots.\n"
    )
    for name, render in (
        ("reconciliation", tables.reconciliation),
        ("balances", tables.balances),
        ("collection", tables.collection),
        ("collection_weight", tables.collection_weight),
        ("recovery", tables.recovery),
        ("recycling_efficiency", tables.recycling_efficiency),
        ("settlement", tables.settlement),
    ):
        if name in results:
            for part in render(results[name]):
                console.print(part)
    second_life = results.get("second_life")
    if second_life:
        routed = ", ".join(f"{route} {count:,}" for route, count in sorted(second_life["routed"].items()))
        console.print(
            f"Second life: returns routed {routed or 'none'}; {second_life['repurposed']:,} repurposed into "
            f"stationary storage, {second_life['collected_again']:,} of them taken back free after it."
        )
    finance = results.get("finance")
    if finance:
        colour = "green" if finance["settled"] else "red"
        verdict = (
            "Every store, centre and the recycler settled: closing balances zero."
            if finance["settled"]
            else f"Not settled: the largest closing balance is {finance['largest_minor']:,} minor units."
        )
        fees = finance.get("handling_fees") or {"collections": 0, "amount": 0, "currency": "EUR"}
        console.print(
            f"Finance: {finance['payments']:,} payments, {finance['resolutions']:,} discrepancies resolved, "
            f"handling fees earned by {fees['collections']:,} collections "
            f"({money_text(fees['amount'], fees['currency'])}), "
            f"unclaimed deposits {'released once' if finance['released'] else 'not released'} "
            f"({finance['release_id']}). [{colour}]{verdict}[/]"
        )


def say_what_was_there(before: dict | None) -> None:
    """The books below are the stack's whole books: say plainly when they held something before this run."""
    if not before:
        return
    if not any(before.values()):
        console.print("The stack was empty before this run: every figure below is the demo's.")
        return
    console.print(
        f"[bold]Before this run the stack already held {before['batteries']:,} batteries, "
        f"{before['events']:,} events and {before['journal_entries']:,} journal entries[/] "
        "(an earlier demo, or other data): the books below include them. For a demo on an empty stack: "
        "`takeback down`, then `takeback up` and "
        "`takeback demo` both with TAKEBACK_STATE_DIR=.state/demo (a state folder of its own: its own "
        "database and Kafka data; the first stack's data stays where it is)."
    )
