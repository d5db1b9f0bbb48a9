"""The battery passport (contract 8.3): one battery's, and the export of every one (JSON lines).

The fields and the Annex XIII point each serves: docs/REGULATION.md; the status mapping:
`services.ledger.domain.passport`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from services.ledger.adapters import passports
from services.ledger.domain.passport import passport as passport_body


async def passport(pool: asyncpg.Pool, serial: str) -> dict[str, Any] | None:
    """The battery's passport; None for a serial the scheme does not know."""
    record = await passports.battery_record(pool, serial)
    return None if record is None else passport_body(record)


async def passport_export(pool: asyncpg.Pool, category: str | None = None) -> AsyncIterator[dict[str, Any]]:
    """Every battery's passport (of `category` when given) in serial order, one at a time."""
    async for record in passports.battery_records(pool, category):
        yield passport_body(record)
