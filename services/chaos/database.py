"""Reading the stack's database from outside while it may be away: bounded waits, errors named once."""
from __future__ import annotations

import asyncio

import asyncpg

QUERY_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
# The database is away (stopped, restarting, connection lost): wait and ask again.
DATABASE_AWAY = (OSError, asyncio.TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
                 asyncpg.exceptions.CannotConnectNowError, asyncpg.exceptions.OperatorInterventionError)


async def open_pool(url: str) -> asyncpg.Pool:
    """A small pool that keeps no idle connection (none to restore while the database is away)."""
    return await asyncpg.create_pool(url, min_size=0, max_size=2, timeout=CONNECT_TIMEOUT_S)


async def fetch_retrying(pool: asyncpg.Pool, query: str, *args, window_s: float = 300.0) -> list:
    """Rows of `query`, waiting out an outage of up to `window_s` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + window_s
    while True:
        try:
            return await pool.fetch(query, *args, timeout=QUERY_TIMEOUT_S)
        except DATABASE_AWAY:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(1.0)
