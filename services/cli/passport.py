"""`takeback passport ...`: the battery passport (contract 8.3), one battery's or every one's as JSON lines.

`export` writes one passport per line (compact JSON, keys sorted), in serial order, as it reads them
through the database cursor: memory holds a bounded number of batteries however many there are.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import IO, get_args

import typer

from contracts.enums import Category
from services.cli.app import app, console, print_json
from services.cli.report import choice
from services.common.settings import get_settings

passport_app = typer.Typer(
    no_args_is_help=True, help="The battery passport (Regulation (EU) 2023/1542, Annex XIII)."
)
app.add_typer(passport_app, name="passport")
CATEGORIES: tuple[str, ...] = get_args(Category)


def passport_line(passport: dict) -> str:
    return json.dumps(passport, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


async def write_export(out: IO[str], category: str | None) -> int:
    """Every passport (of `category` when given) to `out`, one JSON line each; how many were written."""
    from services.common.db import create_pool
    from services.ledger.service_layer import passport_export

    pool = await create_pool(get_settings().database_url, max_size=1)
    written = 0
    try:
        async for passport in passport_export(pool, category):
            out.write(passport_line(passport))
            written += 1
    finally:
        await pool.close()
    return written


@passport_app.command()
def export(
    category: str | None = typer.Option(
        None, "--category", help=f"Only this category: {', '.join(CATEGORIES)}."
    ),
) -> None:
    """Every battery's passport as JSON lines on standard output, one per line, in serial order."""
    choice(category, CATEGORIES, "'--category'")
    asyncio.run(write_export(sys.stdout, category))
    sys.stdout.flush()


@passport_app.command()
def show(
    serial: str, as_json: bool = typer.Option(False, "--json", help="Print the HTTP API's body.")
) -> None:
    """One battery's passport."""
    from services.common.db import create_pool
    from services.ledger.service_layer import passport

    async def fetch() -> dict | None:
        pool = await create_pool(get_settings().database_url, max_size=1)
        try:
            return await passport(pool, serial)
        finally:
            await pool.close()

    body = asyncio.run(fetch())
    if body is None:
        console.print(f"[red]battery {serial} is not known to the scheme[/]")
        raise typer.Exit(1)
    if as_json:
        print_json(body)
        return
    health = body["state_of_health_pct"]
    console.print(
        f"[bold]{body['serial']}[/]  status [bold]{body['status']}[/] (state {body['state']})  "
        f"{body['category'] or '-'}, {body['chemistry'] or '-'}, {body['mass_kg'] or '-'} kg  "
        f"state of health {'-' if health is None else health} %  "
        f"custodian {body['custodian']['kind']}:{body['custodian']['id']}  "
        f"{len(body['history'])} custody steps"
    )
