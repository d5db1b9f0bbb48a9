"""What a run's snapshot reads: the run's instant, the ledger's balances, and the scheme's postings with no
entry (still in flight, or posted and since removed)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.common.money import minor_units

Amounts = dict[tuple[str, str], tuple[int, int]]  # (account, currency) -> (debit, credit)

INSTANT_SQL = "SELECT now() AS as_of, pg_current_snapshot()::text AS watermark"
MOVEMENTS_SQL = """
    SELECT account, currency, sum(debit) AS debit, sum(credit) AS credit
      FROM ledger.account_movements GROUP BY account, currency"""
UNPOSTED_SQL = """
    SELECT p.posting_key, p.kind, p.subject, p.created_at, p.txid::text::bigint AS txid FROM
    scheme.postings p
     WHERE NOT EXISTS (SELECT 1 FROM ledger.entries e WHERE e.posting_key = p.posting_key)
     ORDER BY p.created_at DESC"""
ANNOUNCED_SQL = "SELECT event_id FROM ledger.outbox WHERE event_id = ANY($1::uuid[])"
ASKED_AMOUNTS_SQL = """
    SELECT l->>'account' AS account, l->>'currency' AS currency,
           sum((l->>'debit')::numeric) AS debit, sum((l->>'credit')::numeric) AS credit
      FROM scheme.postings p CROSS JOIN LATERAL jsonb_array_elements(p.lines) AS l
     WHERE p.posting_key = ANY($1::text[]) GROUP BY 1, 2"""


async def instant(connection: asyncpg.Connection) -> tuple[datetime, str]:
    """The run's `as_of` and its watermark: the snapshot of its repeatable-read transaction."""
    row = await connection.fetchrow(INSTANT_SQL)
    return row["as_of"], row["watermark"]


async def balances(connection: asyncpg.Connection) -> Amounts:
    """The whole journal's balances, from the movements."""
    return _amounts(await connection.fetch(MOVEMENTS_SQL))


async def unposted(connection: asyncpg.Connection) -> list[dict]:
    """Every posting of the scheme with no entry (its `txid` too), newest first."""
    return [dict(row) for row in await connection.fetch(UNPOSTED_SQL)]


async def announced(connection: asyncpg.Connection, event_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of these `entry.posted` event ids the ledger's outbox holds."""
    return {row["event_id"] for row in await connection.fetch(ANNOUNCED_SQL, event_ids)}


async def asked_amounts(connection: asyncpg.Connection, posting_keys: list[str]) -> Amounts:
    """The lines of these postings as the scheme asked for them, summed per account and currency."""
    return _amounts(await connection.fetch(ASKED_AMOUNTS_SQL, posting_keys))


def _amounts(rows: list[asyncpg.Record]) -> Amounts:
    """(account, currency) -> (debit, credit), totals summed in numeric read as integers."""
    return {
        (row["account"], row["currency"]): (minor_units(row["debit"]), minor_units(row["credit"]))
        for row in rows
    }
