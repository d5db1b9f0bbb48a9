"""The discrepancies and their resolutions in PostgreSQL: one page, in one query.

`scheme.discrepancies` (opened by the streams) left-joined to
`scheme.discrepancy_resolutions` (append-only, at most one row per discrepancy):
a discrepancy is `resolved` when it has a resolution row, `open` otherwise.
"""

from __future__ import annotations

import asyncpg

from contracts.queries import ListQuery

PAGE_SQL = """
    SELECT d.discrepancy_id, d.kind, d.subject, d.details, d.caused_by, d.opened_at,
           r.discrepancy_id IS NOT NULL AS resolved, r.resolution, r.note, r.resolved_at,
           r.event_id AS resolved_by
      FROM scheme.discrepancies d
      LEFT JOIN scheme.discrepancy_resolutions r USING (discrepancy_id)
     WHERE ($1::text IS NULL OR d.kind = $1)
       AND ($2::text IS NULL OR ($2 = 'open') = (r.discrepancy_id IS NULL))
       AND ($3::timestamptz IS NULL OR (d.opened_at, d.discrepancy_id) < ($3, $4::uuid))
     ORDER BY d.opened_at DESC, d.discrepancy_id DESC
     LIMIT $5"""
# What a reconciliation run shows: the latest opened, whatever their resolution, and how many of each kind.
LATEST_SQL = (
    "SELECT discrepancy_id, kind, subject, details, caused_by, opened_at FROM scheme.discrepancies "
    "ORDER BY opened_at DESC, discrepancy_id LIMIT $1"
)
BY_KIND_SQL = "SELECT kind, count(*) AS n FROM scheme.discrepancies GROUP BY kind ORDER BY kind"


async def page(connection: asyncpg.Connection, query: ListQuery) -> list[asyncpg.Record]:
    """Up to `query.limit + 1` rows: the extra one says whether another page follows."""
    after = query.after
    return await connection.fetch(
        PAGE_SQL,
        query.kind,
        query.status,
        after.opened_at if after else None,
        after.discrepancy_id if after else None,
        query.limit + 1,
    )


async def latest(connection: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """The `limit` discrepancies opened last (resolved ones too), newest first."""
    return await connection.fetch(LATEST_SQL, limit)


async def count_by_kind(connection: asyncpg.Connection) -> dict[str, int]:
    return {row["kind"]: row["n"] for row in await connection.fetch(BY_KIND_SQL)}
