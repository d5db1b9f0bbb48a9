"""`takeback keys create | list | revoke`: the gateway's API keys (stored hashed; shown once)."""

from __future__ import annotations

import asyncio

import asyncpg
import typer

from services.cli.app import app, console, err, print_json, table
from services.common.settings import get_settings
from services.gateway.adapters.key_repository import PostgresKeyRepository
from services.gateway.domain.errors import InvalidKeyRequest
from services.gateway.service_layer import keys as key_service

keys_app = typer.Typer(no_args_is_help=True, help="API keys of the HTTP gateway: create, list, revoke.")
app.add_typer(keys_app, name="keys")


async def _with_repository(work):
    # Keys are made, listed and revoked as the owner role: the gateway's role may only read them.
    connection = await asyncpg.connect(get_settings().database_owner_url)
    try:
        return await work(PostgresKeyRepository(connection))
    finally:
        await connection.close()


@keys_app.command("create")
def create(
    kind: str = typer.Option(..., "--kind", help="pos | return_centre | transporter | recycler | finance"),
    source_id: str = typer.Option(..., "--id", help="The source's id, e.g. store-042"),
    role: str | None = typer.Option(
        None, "--role", help="producer | finance (default: finance for kind finance, else producer)"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a key bound to one source; the key is printed once and never stored in plain text."""
    try:
        plaintext, stored = asyncio.run(
            _with_repository(lambda repository: key_service.create_key(repository, kind, source_id, role))
        )
    except InvalidKeyRequest as error:
        err.print(f"[red]✗ {error}[/]")
        raise typer.Exit(2) from error
    if as_json:
        print_json({**key_service.describe(stored), "key": plaintext})
        return
    console.print(
        f"key id [bold]{stored.key_id}[/] for {stored.source_kind}/{stored.source_id} ({stored.role})"
    )
    console.print("Store this key now; it is not shown again:", style="yellow")
    typer.echo(plaintext)


@keys_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every key: its id, source, role, created and revoked times (never the key itself)."""
    described = [key_service.describe(key) for key in asyncio.run(_with_repository(key_service.list_keys))]
    if as_json:
        print_json(described)
        return
    shown = table(
        "API keys",
        ["key id", "kind", "id", "role", "created", "revoked"],
        [
            [k["key_id"], k["kind"], k["id"], k["role"], _minute(k["created_at"]), _minute(k["revoked_at"])]
            for k in described
        ],
    )
    shown.columns[0].no_wrap = True
    console.print(shown)


def _minute(timestamp: str | None) -> str:
    return "-" if timestamp is None else timestamp[:16].replace("T", " ")


@keys_app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="The key id shown by `takeback keys list`"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Revoke a key; every gateway refuses it within seconds. A revocation is never undone."""
    try:
        revoked = asyncio.run(_with_repository(lambda repository: key_service.revoke_key(repository, key_id)))
    except key_service.UnknownKey as error:
        err.print(f"[red]✗ {error}[/]")
        raise typer.Exit(1) from error
    if as_json:
        print_json(key_service.describe(revoked))
        return
    console.print(
        f"key {revoked.key_id} of {revoked.source_kind}/{revoked.source_id} revoked at "
        f"{revoked.revoked_at.isoformat()}"
    )
