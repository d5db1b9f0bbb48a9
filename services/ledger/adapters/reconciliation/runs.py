"""The stored reconciliation runs (`ledger.reconciliation_runs`), and the traces of tampering a run looks for
before it trusts the previous run's carried totals."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

# Tables only ever added to: an update, a delete or a new storage file in one of them is a trace of tampering.
# The stored runs too: an edit of a run's carried totals would be trusted by the next run.
APPEND_ONLY = (
    "ledger.entries",
    "ledger.account_movements",
    "scheme.postings",
    "scheme.inbox",
    "scheme.refunds",
    "scheme.recoveries",
    "scheme.custody_history",
    "scheme.sales",
    "ledger.reconciliation_runs",
    "scheme.payments",
    "scheme.battery_deltas",
    "scheme.sale_item_deltas",
)
# Tables updated in place, whose changes the deltas record (revision 0023): a TRUNCATE (which records none)
# or a rewrite gives one a new storage file.
IN_PLACE = ("scheme.batteries", "scheme.sale_items")

PREVIOUS_SQL = """
    SELECT run_id, as_of, status, watermark::text AS watermark, carried FROM ledger.reconciliation_runs
     WHERE watermark IS NOT NULL AND carried IS NOT NULL AND ($1::uuid IS NULL OR run_id = $1)
     ORDER BY as_of DESC, run_id LIMIT 1"""
LAST_FULL_SQL = "SELECT max(as_of) FROM ledger.reconciliation_runs WHERE mode = 'full'"
MARKS_SQL = """
    SELECT c.oid::regclass::text AS relation, c.relfilenode::bigint AS storage,
           coalesce(s.n_tup_upd, 0) AS updated, coalesce(s.n_tup_del, 0) AS deleted
      FROM unnest($1::text[]) AS t(name)
      JOIN pg_catalog.pg_class c ON c.oid = to_regclass(t.name)
      LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid"""
STATS_RESET_SQL = "SELECT stats_reset FROM pg_catalog.pg_stat_database WHERE datname = current_database()"
STORE_SQL = (
    "INSERT INTO ledger.reconciliation_runs"
    " (run_id, as_of, status, result, mode, watermark, carried) "
    "VALUES ($1, $2::timestamptz, $3, $4, $5, $6::text::pg_snapshot, $7)"
)


async def previous(connection: asyncpg.Connection, since: uuid.UUID | None) -> asyncpg.Record | None:
    """The latest stored run with a watermark and carried totals (or the run `since`, if it has them)."""
    return await connection.fetchrow(PREVIOUS_SQL, since)


async def last_full_as_of(connection: asyncpg.Connection) -> datetime | None:
    return await connection.fetchval(LAST_FULL_SQL)


async def table_marks(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """`relation`, `storage` (its file), `updated` and `deleted` (rows, since the statistics' reset) of each
    append-only table there is."""
    return await connection.fetch(MARKS_SQL, list(APPEND_ONLY))


async def in_place_marks(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """The same, of the tables updated in place (only their storage file is a trace)."""
    return await connection.fetch(MARKS_SQL, list(IN_PLACE))


async def stats_reset(connection: asyncpg.Connection) -> datetime | None:
    return await connection.fetchval(STATS_RESET_SQL)


async def limit_memory(connection: asyncpg.Connection, work_mem: str) -> None:
    """Memory for each sort and hash of the transaction's queries (hash tables get no more)."""
    await connection.execute(f"SET LOCAL work_mem = '{work_mem}'; SET LOCAL hash_mem_multiplier = 1")


async def without_jit(connection: asyncpg.Connection) -> None:
    """No JIT compilation for the transaction's queries. An incremental run's windows are small, but the
    planner cannot know it: it compiled a query that read nothing for 726 ms (20,000 batteries). A full run
    at 100,000 batteries took 12.6-13.4 s without it, 14.5-17.7 s with it, and its backend's private memory
    peaked at 52-53 MB instead of 80 MB."""
    await connection.execute("SET LOCAL jit = off")


async def store(
    connection: asyncpg.Connection,
    run_id: uuid.UUID,
    as_of: datetime,
    status: str,
    result: dict[str, Any],
    mode: str,
    watermark: str,
    carried: dict[str, Any],
) -> None:
    await connection.execute(STORE_SQL, run_id, as_of, status, result, mode, watermark, carried)
