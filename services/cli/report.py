"""`takeback report ...`: finance reports, as readable tables, `--json` (the HTTP API's body) or `--csv` (what
the HTTP API answers to `Accept: text/csv`)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, get_args

import typer

from contracts.enums import Category
from services.cli import report_tables as tables
from services.cli.app import app, console, print_json
from services.common.report_csv import csv_text
from services.common.settings import get_settings

report_app = typer.Typer(
    no_args_is_help=True, help="Finance reports: reconciliation, balances, settlements, EU targets."
)
app.add_typer(report_app, name="report")
REPORT_POOL_SIZE = 2
JSON = typer.Option(False, "--json", help="Print the JSON body the HTTP API serves.")
CSV = typer.Option(False, "--csv", help="Print CSV (RFC 4180; amounts in minor units with their currency).")


def fetch(use_case: Callable[..., Awaitable[dict]], *args: Any) -> dict:
    from services.common.db import create_pool

    async def go() -> dict:
        pool = await create_pool(get_settings().database_url, max_size=REPORT_POOL_SIZE)
        try:
            return await use_case(pool, *args)
        finally:
            await pool.close()

    return asyncio.run(go())


def one_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise typer.BadParameter("give --json or --csv, not both", param_hint="'--json' / '--csv'")


def show(body: dict, as_json: bool, as_csv: bool, render: Callable[[dict], list], report: str) -> None:
    """The body as JSON, CSV (`services.common.report_csv`) or readable tables."""
    if as_json:
        print_json(body)
    elif as_csv:
        sys.stdout.write(csv_text(report, body))
    else:
        for part in render(body):
            console.print(part)


@report_app.command()
def reconciliation(
    full: bool = typer.Option(
        False,
        "--full",
        help="Read the whole journal and every record of "
        "the scheme, not what changed since the last stored run.",
    ),
    as_json: bool = JSON,
    as_csv: bool = CSV,
) -> None:
    """Every reconciliation check; exit code 1 unless the status is balanced."""
    from services.ledger.service_layer import reconcile

    one_format(as_json, as_csv)
    body = dict(fetch(reconcile, None, "full" if full else "incremental"))
    show(body, as_json, as_csv, tables.reconciliation, "reconciliation")
    if body["status"] != "balanced":
        raise typer.Exit(1)


@report_app.command()
def balances(
    as_of: datetime | None = typer.Option(None, "--as-of", help="An instant in the past (ISO 8601)."),
    as_json: bool = JSON,
    as_csv: bool = CSV,
) -> None:
    """Every account's debit and credit totals, per currency."""
    from services.ledger.service_layer import balances as use_case

    one_format(as_json, as_csv)
    if as_of is not None and as_of.utcoffset() is None:
        as_of = as_of.astimezone()  # a naive instant is read in the local time zone
    show(fetch(use_case, as_of), as_json, as_csv, tables.balances, "balances")


def _period(start: str, end: str):
    from contracts.queries import InvalidPeriod, Period, period_bound

    bounds = []
    for text, hint in ((start, "'--from'"), (end, "'--to'")):
        try:
            bounds.append(period_bound(text))
        except InvalidPeriod as error:
            raise typer.BadParameter(f"{text!r} {error} (rule {error.rule})", param_hint=hint) from None
    try:
        return Period(*bounds)
    except InvalidPeriod as error:
        raise typer.BadParameter(f"{error} (rule {error.rule})", param_hint="'--to'") from None


@report_app.command()
def settlement(
    start: str = typer.Option(
        ..., "--from", help="Start, inclusive: a date (00:00 UTC) or an RFC 3339 instant with an offset."
    ),
    end: str = typer.Option(..., "--to", help="End, exclusive: a date or an instant, after --from."),
    as_json: bool = JSON,
    as_csv: bool = CSV,
) -> None:
    """Each store, centre and recycler per currency over [from, to) of the entries' occurred_at: opening,
    charges, payments, closing (positive: owed to the scheme; negative: owed by it)."""
    from services.ledger.service_layer import settlement as use_case

    one_format(as_json, as_csv)
    show(fetch(use_case, _period(start, end)), as_json, as_csv, tables.settlement, "settlement")


@report_app.command("liability-age")
def liability_age(as_json: bool = JSON, as_csv: bool = CSV) -> None:
    """Deposits of the batteries in use (a released deposit left out), by age of sale."""
    from services.ledger.service_layer import liability_by_age

    one_format(as_json, as_csv)
    show(fetch(liability_by_age), as_json, as_csv, tables.liability_age, "liability_age")


@report_app.command()
def fund(as_json: bool = JSON, as_csv: bool = CSV) -> None:
    """The recycling fund against the expected cost of recycling every battery it must still pay for."""
    from services.ledger.service_layer import fund_adequacy

    one_format(as_json, as_csv)
    show(fetch(fund_adequacy), as_json, as_csv, tables.fund, "fund")


CATEGORIES: tuple[str, ...] = get_args(Category)
BASES = ("count", "weight")


def choice(value: str | None, allowed: tuple[str, ...], hint: str) -> str | None:
    if value is not None and value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}", param_hint=hint)
    return value


YEAR = typer.Option(None, "--year", min=2000, max=2100, help="Calendar year (UTC); default: every year.")


@report_app.command()
def collection(
    year: int | None = YEAR,
    category: str | None = typer.Option(None, "--category", help=f"One of {', '.join(CATEGORIES)}."),
    basis: str = typer.Option(
        "count",
        "--basis",
        help="count: batteries collected / sold in the year; weight: kilograms collected / the average "
        "kilograms placed on the market in the year and the two before (Annex XI).",
    ),
    by: str | None = typer.Option(None, "--by", help="country: one row per country (with --basis weight)."),
    as_json: bool = JSON,
    as_csv: bool = CSV,
) -> None:
    """Collection rate by category and year, against Regulation (EU) 2023/1542 targets."""
    from services.ledger.service_layer import collection_by_weight, collection_report

    one_format(as_json, as_csv)
    choice(category, CATEGORIES, "'--category'")
    choice(basis, BASES, "'--basis'")
    choice(by, ("country",), "'--by'")
    if by is not None and basis != "weight":
        raise typer.BadParameter("--by country needs --basis weight", param_hint="'--by'")
    if basis == "weight":
        body = fetch(collection_by_weight, year, category, by == "country")
        show(body, as_json, as_csv, tables.collection_weight, "collection_weight")
        return
    show(fetch(collection_report, year, category), as_json, as_csv, tables.collection, "collection")


@report_app.command("recycling-efficiency")
def recycling_efficiency(year: int | None = YEAR, as_json: bool = JSON, as_csv: bool = CSV) -> None:
    """Recycling efficiency per chemistry group (output over input mass of the lots recovered in the year),
    against Annex XII Part B targets."""
    from services.ledger.service_layer import recycling_efficiency as use_case

    one_format(as_json, as_csv)
    show(fetch(use_case, year), as_json, as_csv, tables.recycling_efficiency, "recycling_efficiency")


@report_app.command()
def recovery(year: int | None = YEAR, as_json: bool = JSON, as_csv: bool = CSV) -> None:
    """Recovered mass and recovery rate per material, against Annex XII Part C targets."""
    from services.ledger.service_layer import recovery_report

    one_format(as_json, as_csv)
    show(fetch(recovery_report, year), as_json, as_csv, tables.recovery, "recovery")
