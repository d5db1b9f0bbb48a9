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
    return {"idle_in_transaction_session_timeout": f"{settings.idle_in_transaction_timeout_s}s",
            "statement_timeout": f"{settings.statement_timeout_s}s"}


async def create_pool(url: str, max_size: int = POOL_MAX_SIZE, settings: Settings | None = None) -> asyncpg.Pool:
    """A pool; a service passes its settings, and every session gets their `session_limits`."""
    return await asyncpg.create_pool(url, min_size=1, max_size=max_size, init=_init_connection,
                                     server_settings=session_limits(settings) if settings else None)
