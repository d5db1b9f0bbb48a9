"""asyncpg pools, created at start-up and passed in."""
from __future__ import annotations

import json

import asyncpg

POOL_MAX_SIZE = 8


async def _init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(url: str, max_size: int = POOL_MAX_SIZE) -> asyncpg.Pool:
    return await asyncpg.create_pool(url, min_size=1, max_size=max_size, init=_init_connection)
