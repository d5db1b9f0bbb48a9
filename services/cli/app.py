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

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Takeback: battery take-back and deposit scheme.")
console = Console()
TEXT_COLUMN_WIDTH_MIN = 12  # a text column never shrinks below this (or its heading) to make room
err = Console(stderr=True)


def print_json(value) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def table(title: str, columns: list[str], rows: list[list], right: tuple[str, ...] = ()) -> Table:
    """A readable table: a text cell too wide for the terminal wraps (folds), it is never cut; the `right`
    columns (amounts, counts) are right-aligned and kept on one line."""
    out = Table(title=title, title_justify="left")
    for column in columns:
        if column in right:
            out.add_column(column, justify="right", no_wrap=True)
        else:
            out.add_column(column, overflow="fold", min_width=min(len(column), TEXT_COLUMN_WIDTH_MIN) or None)
    for row in rows:
        out.add_row(*[str(cell) for cell in row])
    return out
