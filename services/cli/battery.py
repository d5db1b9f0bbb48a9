"""`takeback battery SERIAL [--json]`."""

from __future__ import annotations

import asyncio

import typer

from services.cli.app import app, console, print_json, table
from services.common.db import create_pool
from services.common.settings import get_settings
from streams.views import battery_view


async def _fetch(serial: str) -> dict | None:
    pool = await create_pool(get_settings().database_url, max_size=1)
    try:
        return await battery_view(pool, serial)
    finally:
        await pool.close()


@app.command()
def battery(
    serial: str, as_json: bool = typer.Option(False, "--json", help="print the contract's JSON body")
) -> None:
    """A battery's state, money and whole custody history."""
    body = asyncio.run(_fetch(serial))
    if body is None:
        console.print(f"[red]battery {serial} is not known to the scheme[/]")
        raise typer.Exit(1)
    if as_json:
        print_json(body)
        return
    custodian = body["custodian"]
    console.print(
        f"[bold]{body['serial']}[/]  state [bold]{body['state']}[/]  contract {body['contract'] or '-'}  "
        f"sku {body['sku'] or '-'} ({body['category'] or '-'}, {body['chemistry'] or '-'})"
    )
    released = "  released to the reserve" if body.get("deposit_released") else ""
    console.print(
        f"deposit charged {body['deposit_charged']}  refunded {body['deposit_refunded']}{released} "
        f"{body['currency'] or ''}  custodian {custodian['kind']}:{custodian['id']}"
    )
    show = lambda p: "-" if p is None else f"{p['kind']}:{p['id']}"  # noqa: E731
    console.print(
        table(
            "custody history",
            ["#", "at", "event", "from", "to", "state"],
            [
                [i, h["at"], h["event_type"], show(h["from"]), show(h["to"]), h["state"]]
                for i, h in enumerate(body["history"], 1)
            ],
        )
    )
