"""The discrepancy list, each with its resolution (contract 8.1): `GET /v1/discrepancies`,
`takeback discrepancies`."""

from __future__ import annotations

from typing import Any

import asyncpg

from contracts.queries import ListQuery, Position
from services.ledger.adapters.clock import now
from services.ledger.adapters.discrepancy_records import page
from services.ledger.service_layer.rows import json_value


async def discrepancies(pool: asyncpg.Pool, query: ListQuery) -> dict[str, Any]:
    """`{"as_of", "discrepancies": [{"discrepancy_id", "kind", "subject", "details", "caused_by", "opened_at",
    "status", "resolution", "note", "resolved_at", "resolved_by"}], "next_cursor"}`: the last four null while
    open; `next_cursor` null on the last page."""
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        as_of = await now(connection)
        rows = await page(connection, query)
    shown = rows[: query.limit]
    last = shown[-1] if len(rows) > query.limit else None
    return {
        "as_of": as_of.isoformat(),
        "discrepancies": [_discrepancy(row) for row in shown],
        "next_cursor": Position(last["opened_at"], last["discrepancy_id"]).cursor() if last else None,
    }


def _discrepancy(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "discrepancy_id": str(row["discrepancy_id"]),
        "kind": row["kind"],
        "subject": row["subject"],
        "details": json_value(row["details"]),
        "caused_by": str(row["caused_by"]),
        "opened_at": row["opened_at"].isoformat(),
        "status": "resolved" if row["resolved"] else "open",
        "resolution": row["resolution"],
        "note": row["note"],
        "resolved_at": json_value(row["resolved_at"]),
        "resolved_by": json_value(row["resolved_by"]),
    }
