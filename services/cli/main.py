"""The `takeback` command: parse, dispatch, print. Work lives in the services."""
from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from services.common.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Takeback: battery take-back and deposit scheme.")
console = Console()
err = Console(stderr=True)


def print_json(value) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def table(title: str, columns: list[str], rows: list[list]) -> Table:
    out = Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*[str(cell) for cell in row])
    return out


@app.command()
def up() -> None:
    """Start Kafka, PostgreSQL and the services in the background; return once healthy."""
    from infra.local.stack import Stack
    try:
        Stack(get_settings(), say=lambda m: err.print(f"[green]✓[/] {m}")).up()
    except Exception as error:  # report and exit non-zero: the operator reads this
        err.print(f"[red]✗ {error}[/]")
        raise typer.Exit(1)


@app.command()
def down() -> None:
    """Stop the services, Kafka and PostgreSQL cleanly."""
    from infra.local.stack import Stack
    Stack(get_settings(), say=lambda m: err.print(f"[green]✓[/] {m}")).down()


@app.command()
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Each part of the stack and its health."""
    from infra.local.stack import Stack
    rows = Stack(get_settings()).status()
    if as_json:
        print_json(rows)
    else:
        console.print(table("Takeback stack", ["part", "health", "where", "pid"], [
            [r["part"], "[green]healthy[/]" if r["healthy"] else "[red]down[/]", r["where"], r["pid"] or "-"]
            for r in rows]))
    if not all(r["healthy"] for r in rows):
        raise typer.Exit(1)


def main() -> None:
    import logging
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # "unable to connect" while a broker starts
    from services.cli import commands  # noqa: F401  (registers the remaining commands)
    app()
