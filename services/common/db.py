"""asyncpg pools, created at start-up and passed in."""

from __future__ import annotations

import json

import asyncpg

from services.common.settings import Settings

POOL_MAX_SIZE = 8


async def _init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def session_limits(settings: Settings) -> dict[str, str]:
    """Bounds of every service session: a forgotten transaction or a runaway statement ends on its own."""
    return {
        "idle_in_transaction_session_timeout": f"{settings.idle_in_transaction_timeout_s}s",
        "statement_timeout": f"{settings.statement_timeout_s}s",
    }


async def _session_kept(connection: asyncpg.Connection) -> None:
    """No reset query on release: for a service whose sessions hold no state beyond a transaction."""


async def create_pool(
    url: str,
    max_size: int = POOL_MAX_SIZE,
    settings: Settings | None = None,
    stateless_sessions: bool = False,
) -> asyncpg.Pool:
    """A pool; a service passes its settings, and every session gets their `session_limits`.

    `stateless_sessions`: the service never sets session state (no `SET` outside a transaction, no advisory
    lock, `LISTEN` or cursor on a pooled connection), so a connection given back skips the reset query, a
    round trip per use (an open transaction is still rolled back, listeners still dropped).
    """
    return await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=max_size,
        init=_init_connection,
        server_settings=session_limits(settings) if settings else None,
        reset=_session_kept if stateless_sessions else None,
    )
