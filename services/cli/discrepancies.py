"""`takeback discrepancies`: the discrepancies with their resolution (contract 8.1), newest first, by page."""

from __future__ import annotations

import typer

from contracts.queries import (
    DISCREPANCY_KINDS,
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    STATUSES,
    InvalidCursor,
    ListQuery,
    Position,
)
from services.cli import report_tables as tables
from services.cli.app import app
from services.cli.report import CSV, JSON, fetch, one_format, show


def _choice(value: str | None, allowed: tuple[str, ...], hint: str) -> str | None:
    if value is not None and value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}", param_hint=hint)
    return value


@app.command()
def discrepancies(
    status: str | None = typer.Option(None, "--status", help="open or resolved (default: both)"),
    kind: str | None = typer.Option(None, "--kind", help=f"one of {', '.join(DISCREPANCY_KINDS)}"),
    limit: int = typer.Option(
        PAGE_LIMIT_DEFAULT, "--limit", min=1, max=PAGE_LIMIT_MAX, help="rows on this page"
    ),
    cursor: str | None = typer.Option(None, "--cursor", help="next_cursor of the page before"),
    as_json: bool = JSON,
    as_csv: bool = CSV,
) -> None:
    """The discrepancies, newest first, each with its resolution (resolution, note, resolved_at)."""
    from services.ledger.service_layer.discrepancies import discrepancies as use_case

    one_format(as_json, as_csv)
    try:
        after = Position.of_cursor(cursor) if cursor is not None else None
    except InvalidCursor as error:
        raise typer.BadParameter(str(error), param_hint="'--cursor'") from None
    query = ListQuery(
        _choice(status, STATUSES, "'--status'"), _choice(kind, DISCREPANCY_KINDS, "'--kind'"), limit, after
    )
    show(fetch(use_case, query), as_json, as_csv, tables.discrepancies, "discrepancies")
