"""`takeback report ...`: finance reports, as readable tables or `--json` (the HTTP API's body)."""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Awaitable, Callable, Optional

import typer

from services.cli import report_tables as tables
from services.cli.app import app, console, print_json
from services.common.settings import get_settings

report_app = typer.Typer(no_args_is_help=True,
                         help="Finance reports: reconciliation, balances, settlements, EU targets.")
app.add_typer(report_app, name="report")
REPORT_POOL_SIZE = 2
JSON = typer.Option(False, "--json", help="Print the JSON body the HTTP API serves.")


def _fetch(use_case: Callable[..., Awaitable[dict]], *args: Any) -> dict:
    from services.common.db import create_pool

    async def go() -> dict:
        pool = await create_pool(get_settings().database_url, max_size=REPORT_POOL_SIZE)
        try:
            return await use_case(pool, *args)
        finally:
            await pool.close()

    return asyncio.run(go())


def _show(body: dict, as_json: bool, render: Callable[[dict], list]) -> None:
    if as_json:
        print_json(body)
        return
    for part in render(body):
        console.print(part)


@report_app.command()
def reconciliation(full: bool = typer.Option(False, "--full", help="Read the whole journal and every record of "
                                             "the scheme, not what changed since the last stored run."),
                   as_json: bool = JSON) -> None:
    """Every reconciliation check; exit code 1 unless the status is balanced."""
    from services.ledger.service_layer import reconcile
    body = dict(_fetch(reconcile, None, "full" if full else "incremental"))
    _show(body, as_json, tables.reconciliation)
    if body["status"] != "balanced":
        raise typer.Exit(1)


@report_app.command()
def balances(as_of: Optional[datetime] = typer.Option(None, "--as-of", help="An instant in the past (ISO 8601)."),
             as_json: bool = JSON) -> None:
    """Every account's debit and credit totals, per currency."""
    from services.ledger.service_layer import balances as use_case
    if as_of is not None and as_of.utcoffset() is None:
        as_of = as_of.astimezone()  # a naive instant is read in the local time zone
    _show(_fetch(use_case, as_of), as_json, tables.balances)


@report_app.command()
def settlement(as_json: bool = JSON) -> None:
    """What each store owes the scheme, and what the scheme owes each return centre."""
    from services.ledger.service_layer import settlement as use_case
    _show(_fetch(use_case), as_json, tables.settlement)


@report_app.command("liability-age")
def liability_age(as_json: bool = JSON) -> None:
    """Deposits of the batteries in use, by age of sale."""
    from services.ledger.service_layer import liability_by_age
    _show(_fetch(liability_by_age), as_json, tables.liability_age)


@report_app.command()
def fund(as_json: bool = JSON) -> None:
    """The recycling fund against the expected cost of recycling the batteries in the market."""
    from services.ledger.service_layer import fund_adequacy
    _show(_fetch(fund_adequacy), as_json, tables.fund)


@report_app.command()
def collection(year: Optional[int] = typer.Option(None, "--year"),
               category: Optional[str] = typer.Option(None, "--category"), as_json: bool = JSON) -> None:
    """Collection rate by category and year, against Regulation (EU) 2023/1542 targets."""
    from services.ledger.service_layer import collection_report
    _show(_fetch(collection_report, year, category), as_json, tables.collection)


@report_app.command()
def recovery(year: Optional[int] = typer.Option(None, "--year"), as_json: bool = JSON) -> None:
    """Recovered mass and recovery rate per material, against Annex XII Part C targets."""
    from services.ledger.service_layer import recovery_report
    _show(_fetch(recovery_report, year), as_json, tables.recovery)
