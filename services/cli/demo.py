"""`takeback demo`: a realistic year of the scheme through the running stack, then the books."""
from __future__ import annotations

import asyncio

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.cli.app import app, console, err, print_json, table
from services.cli.outcome import run_or_say
from services.common.settings import get_settings
from services.demo.runner import Demo


@app.command()
def demo(batteries: int = typer.Option(3000, min=50, help="batteries sold over the simulated months"),
         months: int = typer.Option(12, min=4, max=60, help="simulated months"),
         seed: int = typer.Option(7, help="random seed of the scenario"),
         as_json: bool = typer.Option(False, "--json")) -> None:
    """Stores, centres, a transporter and the recycler over months; ends with reconciliation and finance."""
    with Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as progress:
        tasks: dict[str, int] = {}

        def report(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=done, total=total)

        results = run_or_say(lambda: asyncio.run(Demo(get_settings(), batteries, months, seed, report).run_all()),
                             "demo")
    if as_json:
        print_json(results)
    else:
        show(results)
    if results["reconciliation"]["status"] != "balanced":
        raise typer.Exit(1)


def show(results: dict) -> None:
    say_what_was_there(results.get("before"))
    console.print(f"\n[bold]{results['events_sent']}[/] events sent for {results['batteries']} batteries "
                  f"and {results['lots']} lots.\n")
    recon = results["reconciliation"]
    colour = "green" if recon["status"] == "balanced" else "red"
    console.print(table(f"Reconciliation as of {recon['as_of']}: [{colour}]{recon['status']}[/]",
                        ["check", "ok", "expected", "actual"],
                        [[c["name"], "✓" if c["ok"] else "✗", _short(c["expected"]), _short(c["actual"])]
                         for c in recon["checks"]]))
    open_ = recon.get("open_discrepancies") or []
    if isinstance(open_, dict):
        open_ = open_.get("latest") or open_.get("items") or []
    console.print(f"open discrepancies (expected in a real scheme): {len(open_)} shown")
    kinds: dict[str, int] = {}
    for d in open_:
        kinds[d.get("kind", "?")] = kinds.get(d.get("kind", "?"), 0) + 1
    for kind, count in sorted(kinds.items()):
        console.print(f"  {kind}: {count}")
    console.print(table("Balances", ["account", "currency", "debit", "credit", "balance"], [
        [b["account"], b["currency"], b["debit"], b["credit"], b["debit"] - b["credit"]]
        for b in results["balances"]["balances"]]))
    for name in ("collection", "recovery"):
        rows = _rows(results[name])
        if rows:
            columns = list(rows[0])
            console.print(table(f"{name.title()} report", columns, [[_short(r.get(c)) for c in columns] for r in rows]))


def _rows(report: dict) -> list[dict]:
    for value in report.values():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return value
    return []


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
