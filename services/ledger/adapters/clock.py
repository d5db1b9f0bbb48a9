"""The database's clock: the instant a report or a run is read at (`now()`, its transaction's start)."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def now(connection: asyncpg.Connection) -> datetime:
    """The start of the connection's transaction: every read of it is as of this instant."""
    return await connection.fetchval("SELECT now()")
