"""`takeback kafka-credentials create | list | revoke`: a source's Kafka principal and signing key,
shown once.

A credential writes only the topics of its kind (ACLs) and only as its source:
events are signed with its key (header `takeback-signature`: HMAC-SHA256 of the
message value, hex) and the stream workers refuse any event whose source it is
not (`source_mismatch`).
"""

from __future__ import annotations

import asyncio
from functools import partial

import asyncpg
import typer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from infra.local.kafka_admin import KafkaAdminError
from infra.local.principals import (
    InvalidSource,
    check_source,
    create_source_credential,
    list_source_credentials,
    revoke_source_credential,
)
from services.cli.app import app, console, err, print_json, table
from services.common.kafka import client_options
from services.common.settings import get_settings

credentials_app = typer.Typer(
    no_args_is_help=True, help="Kafka credentials of the sources: create, list, revoke."
)
app.add_typer(credentials_app, name="kafka-credentials")
KIND = typer.Option(..., "--kind", help="pos | return_centre | transporter | recycler | finance")
SOURCE_ID = typer.Option(..., "--id", help="The source's id, e.g. store-042")


async def _as_operator(work, with_kafka: bool = True):
    settings = get_settings()
    owner = await asyncpg.connect(settings.database_owner_url)
    admin = (
        AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15_000, **client_options(settings)
        )
        if with_kafka
        else None
    )
    try:
        if admin is not None:
            await admin.start()
        return await work(admin, owner)
    finally:
        if admin is not None:
            await admin.close()
        await owner.close()


def _for_source(action, kind: str, source_id: str):
    """`action(admin, owner, kind, source_id)` as the operator; a bad kind or id exits 2, naming the option,
    before anything is reached; a stack that does not answer exits 1 in one sentence."""
    try:
        check_source(kind, source_id)
    except InvalidSource as error:
        err.print(f"[red]✗ {error}[/]")
        raise typer.Exit(2) from error
    return _run(lambda admin, owner: action(admin, owner, kind, source_id))


def _on_every_broker(action):
    """`action` with the brokers to check its change on: it returns once every one of them has applied it."""
    settings = get_settings()
    return partial(action, bootstrap=settings.kafka_bootstrap, options=client_options(settings))


def _run(work, with_kafka: bool = True):
    try:
        return asyncio.run(_as_operator(work, with_kafka))
    except (TimeoutError, OSError, KafkaError) as error:
        err.print(f"[red]✗ the stack does not answer ({error}); is it up? (takeback status)[/]")
        raise typer.Exit(1) from error
    except KafkaAdminError as error:
        err.print(f"[red]✗ {error}: the change is not yet on every broker; run the command again[/]")
        raise typer.Exit(1) from error


@credentials_app.command("create")
def create(
    kind: str = KIND, source_id: str = SOURCE_ID, as_json: bool = typer.Option(False, "--json")
) -> None:
    """A principal that may write only its kind's topics, and the key its events are signed with; shown once,
    when the principal logs in on every broker.

    Creating it again for the same source replaces both: the old ones stop working at once."""
    credential = _for_source(_on_every_broker(create_source_credential), kind, source_id)
    shown = {**credential.shown(), "bootstrap": get_settings().kafka_bootstrap}
    if as_json:
        print_json(shown)
        return
    console.print(
        f"Kafka credential for {kind}/{source_id}: SASL/SCRAM-SHA-512, writes {', '.join(credential.topics)}"
    )
    console.print("Store these now; they are not shown again:", style="yellow")
    for name in ("username", "password", "signing_secret"):
        typer.echo(f"{name}={shown[name]}")
    console.print(
        f"Sign each message: header {shown['signature_header']} = hex HMAC-SHA256(signing_secret, value)"
    )


@credentials_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every source credential: kind, id, principal, created and revoked times (never a secret)."""
    rows = _run(lambda admin, owner: list_source_credentials(owner), with_kafka=False)
    if as_json:
        print_json(rows)
        return
    console.print(
        table(
            "Kafka credentials",
            ["kind", "id", "principal", "created", "revoked"],
            [
                [r["kind"], r["id"], r["username"], r["created_at"][:16], (r["revoked_at"] or "-")[:16]]
                for r in rows
            ],
        )
    )


@credentials_app.command("revoke")
def revoke(
    kind: str = KIND, source_id: str = SOURCE_ID, as_json: bool = typer.Option(False, "--json")
) -> None:
    """The principal can no longer log in on any broker when this returns, nor its key sign (within
    seconds). Exit 1 if none was live."""
    revoked = _for_source(_on_every_broker(revoke_source_credential), kind, source_id)
    if as_json:
        print_json({"kind": kind, "id": source_id, "revoked": revoked})
    else:
        console.print(f"{kind}/{source_id}: " + ("revoked" if revoked else "no live credential"))
    if not revoked:
        raise typer.Exit(1)
