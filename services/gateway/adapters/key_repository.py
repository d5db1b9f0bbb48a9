"""API keys in PostgreSQL (`gateway.api_keys`, migration 0004), and an in-memory twin for unit tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import asyncpg

from services.gateway.domain.keys import StoredKey

KEYS_LISTED_MAX = 10_000
_COLUMNS = "key_id, salt, secret_hash, source_kind, source_id, role, created_at, revoked_at"


class PostgresKeyRepository:
    """Over a pool or a single connection (the command line uses one)."""

    def __init__(self, database: asyncpg.Pool | asyncpg.Connection) -> None:
        self.database = database

    async def add(self, key: StoredKey) -> None:
        await self.database.execute(
            """INSERT INTO gateway.api_keys (key_id, salt, secret_hash, source_kind, source_id, role)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            key.key_id,
            key.salt,
            key.secret_hash,
            key.source_kind,
            key.source_id,
            key.role,
        )

    async def get(self, key_id: str) -> StoredKey | None:
        row = await self.database.fetchrow(
            f"SELECT {_COLUMNS} FROM gateway.api_keys WHERE key_id = $1", key_id
        )
        return None if row is None else StoredKey(**dict(row))

    async def get_many(self, key_ids: list[str]) -> dict[str, StoredKey]:
        rows = await self.database.fetch(
            f"SELECT {_COLUMNS} FROM gateway.api_keys WHERE key_id = ANY($1::text[])", key_ids
        )
        return {row["key_id"]: StoredKey(**dict(row)) for row in rows}

    async def list(self) -> list[StoredKey]:
        rows = await self.database.fetch(
            f"SELECT {_COLUMNS} FROM gateway.api_keys ORDER BY created_at, key_id LIMIT $1", KEYS_LISTED_MAX
        )
        return [StoredKey(**dict(row)) for row in rows]

    async def revoke(self, key_id: str, at: datetime) -> StoredKey | None:
        await self.database.execute(
            "UPDATE gateway.api_keys SET revoked_at = $2 WHERE key_id = $1 AND revoked_at IS NULL", key_id, at
        )
        return await self.get(key_id)


class InMemoryKeyRepository:
    def __init__(self) -> None:
        self.keys: dict[str, StoredKey] = {}
        self.lookups = 0  # reads of one key
        self.readings = 0  # reads of several at once

    async def add(self, key: StoredKey) -> None:
        assert key.key_id not in self.keys, "key ids are unique"
        self.keys[key.key_id] = replace(key, created_at=key.created_at or datetime.now().astimezone())

    async def get(self, key_id: str) -> StoredKey | None:
        self.lookups += 1
        return self.keys.get(key_id)

    async def get_many(self, key_ids: list[str]) -> dict[str, StoredKey]:
        self.readings += 1
        return {key_id: self.keys[key_id] for key_id in key_ids if key_id in self.keys}

    async def list(self) -> list[StoredKey]:
        return list(self.keys.values())[:KEYS_LISTED_MAX]

    async def revoke(self, key_id: str, at: datetime) -> StoredKey | None:
        key = self.keys.get(key_id)
        if key is not None and key.revoked_at is None:
            self.keys[key_id] = key = replace(key, revoked_at=at)
        return key
