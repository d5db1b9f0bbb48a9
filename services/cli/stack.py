"""`takeback up`, `down` and `status`: the local stack's lifecycle and health."""

from __future__ import annotations

import typer

from services.cli.app import app, console, err, print_json, table
from services.common.settings import get_settings


@app.command()
def up(
    brokers: int = typer.Option(
        None,
        "--brokers",
        min=1,
        max=9,
        help="Kafka nodes: 3 for a replicated cluster [default: TAKEBACK_KAFKA_BROKERS, 1]",
    ),
) -> None:
    """Start Kafka, PostgreSQL and the services in the background; return once healthy."""
    from infra.local.stack import Stack, with_brokers

    settings = get_settings() if brokers is None else with_brokers(get_settings(), brokers)
    try:
        Stack(settings, say=lambda m: err.print(f"[green]✓[/] {m}")).up()
    except Exception as error:  # report and exit non-zero: the operator reads this
        err.print(f"[red]✗ {error}[/]")
        raise typer.Exit(1) from error


@app.command()
def down() -> None:
    """Stop the services, Kafka and PostgreSQL cleanly."""
    from infra.local.stack import Stack

    Stack(get_settings(), say=lambda m: err.print(f"[green]✓[/] {m}")).down()


@app.command()
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Each part of the stack and its health, then the flow through the scheme: each relay (oldest unsent
    event, parked ones), each consumer group's lag, the last reconciliation. Exit 1 if any is unhealthy."""
    from infra.local.stack import Stack

    settings = get_settings()
    rows = [{"kind": "process", **row} for row in Stack(settings).status()]
    if any(r["part"] == "postgres" and r["healthy"] for r in rows):
        rows += _flow_rows(settings)
    if as_json:
        print_json(rows)
    else:
        console.print(
            table(
                "Takeback stack",
                ["part", "health", "where", "pid", "detail"],
                [
                    [
                        r["part"],
                        "[green]healthy[/]"
                        if r["healthy"]
                        else "[red]down[/]"
                        if r["kind"] == "process"
                        else "[red]problem[/]",
                        r["where"],
                        r.get("pid") or "-",
                        r.get("detail", ""),
                    ]
                    for r in rows
                ],
            )
        )
    if not all(r["healthy"] for r in rows):
        raise typer.Exit(1)


def _flow_rows(settings) -> list[dict]:
    """The scheme's health report as rows: one per relay, per consumer group, and the last reconciliation."""
    import asyncio

    from services.common.db import create_pool
    from services.common.health_report import read_report, rows_of

    async def read() -> dict:
        pool = await create_pool(settings.database_url, max_size=1)
        try:
            return await read_report(pool, settings)
        finally:
            await pool.close()

    try:
        return rows_of(asyncio.run(read()), settings)
    except Exception as error:  # the database answers but the report cannot be read: that is a problem too
        return [
            {"kind": "flow", "part": "health report", "healthy": False, "where": "-", "detail": str(error)}
        ]
