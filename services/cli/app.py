"""The `takeback` command's application object and its output helpers.

Every command module registers itself on `app` and prints through `console`, `err`,
`print_json` and `table`; this module imports none of them, so the command line has no
import circle: `main` imports the commands, the commands import this.
"""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Takeback: battery take-back and deposit scheme."
)
console = Console()
err = Console(stderr=True)


def print_json(value) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def table(title: str, columns: list[str], rows: list[list], right: tuple[str, ...] = ()) -> Table:
    """A readable table: a cell too wide for the terminal wraps, it is never cut (an amount wraps only between
    its figure and its currency); the `right` columns (amounts, counts) are right-aligned."""
    out = Table(title=title, title_justify="left")
    for column in columns:
        if column in right:
            out.add_column(column, justify="right", overflow="fold")
        else:
            out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*[str(cell) for cell in row])
    return out
