"""What the checks of the journal read: its entries and lines, and their trace to the scheme's postings.

Totals are summed in numeric and read as integers (`minor_units`): each line fits a bigint, their sums need
not."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.common.money import minor_units

UNBALANCED_SQL = """
    SELECT posting_key, kind, subject, lines FROM (
        SELECT e.seq, e.posting_key, e.kind, e.subject, x.lines::int AS lines
          FROM (SELECT entry_id, sum(n) AS lines
                  FROM (SELECT entry_id, count(*) AS n, sum(debit) = sum(credit) AS balanced
                          FROM ledger.lines GROUP BY entry_id, currency) AS per_currency
                 GROUP BY entry_id HAVING sum(n) < 2 OR NOT bool_and(balanced)) AS x
          JOIN ledger.entries e USING (entry_id)
        UNION ALL
        SELECT e.seq, e.posting_key, e.kind, e.subject, 0 FROM ledger.entries e
         WHERE NOT EXISTS (SELECT 1 FROM ledger.lines l WHERE l.entry_id = e.entry_id)) AS offending
     ORDER BY seq DESC"""
ORPHAN_LINES_SQL = (
    "SELECT count(*) FROM ledger.lines l WHERE NOT EXISTS "
    "(SELECT 1 FROM ledger.entries e WHERE e.entry_id = l.entry_id)"
)
ENTRIES_SQL = "SELECT count(*) FROM ledger.entries"
TOTALS_SQL = (
    "SELECT currency, sum(debit) AS debit, sum(credit) AS credit "
    "FROM ledger.lines GROUP BY currency ORDER BY currency"
)
LINES_PER_ACCOUNT_SQL = "SELECT account, currency, sum(debit), sum(credit) FROM ledger.lines GROUP BY 1, 2"
# Each side's lines of an entry reduce to (count, sum of a 64-bit hash per line): an order-free digest of the
# multiset of lines, computed by hash aggregation (no sort, no JSON built per entry).
TRACED_SQL = """
    WITH posted AS (
        SELECT entry_id, count(*) AS lines,
               sum(hashtextextended(account || '|' || currency || '|' || debit || '|' || credit, 0)::numeric)
               AS digest
          FROM ledger.lines GROUP BY entry_id),
    asked AS (
        SELECT p.posting_key, count(*) AS lines,
               sum(hashtextextended((x->>'account') || '|' || (x->>'currency') || '|' ||
               ((x->>'debit')::bigint)
                                    || '|' || ((x->>'credit')::bigint), 0)::numeric) AS digest
          FROM scheme.postings p CROSS JOIN LATERAL jsonb_array_elements(p.lines) AS x GROUP BY p.posting_key)
    SELECT e.posting_key, e.kind, e.subject,
           CASE WHEN a.posting_key IS NULL THEN 'not_asked_by_scheme'
                WHEN (a.lines, a.digest) IS DISTINCT FROM (l.lines, l.digest) THEN 'lines_differ'
                ELSE 'reverses_no_entry' END AS problem
      FROM ledger.entries e LEFT JOIN posted l USING (entry_id) LEFT JOIN asked a USING (posting_key)
     WHERE a.posting_key IS NULL OR (a.lines, a.digest) IS DISTINCT FROM (l.lines, l.digest)
        OR (e.reverses IS NOT NULL AND e.posted_at < $1
            AND NOT EXISTS (SELECT 1 FROM ledger.entries r WHERE r.entry_id = e.reverses))
     ORDER BY e.seq DESC"""
# Reversals whose reversed entry is not (yet) in the journal: the next run looks at them again.
REVERSALS_PENDING_SQL = """
    SELECT e.entry_id FROM ledger.entries e
     WHERE e.reverses IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger.entries r WHERE r.entry_id =
     e.reverses)"""
POSTINGS_SQL = "SELECT count(*) FROM scheme.postings"
LATEST_UNPOSTABLE_SQL = "SELECT key, error, received_at FROM ledger.unpostable ORDER BY seq DESC LIMIT 10"
UNPOSTABLE_SQL = "SELECT count(*) FROM ledger.unpostable"


async def unbalanced_entries(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """Entries whose lines (recomputed) do not balance per currency or are fewer than two, newest first."""
    return await connection.fetch(UNBALANCED_SQL)


async def lines_without_entry(connection: asyncpg.Connection) -> int:
    return await connection.fetchval(ORPHAN_LINES_SQL)


async def entry_count(connection: asyncpg.Connection) -> int:
    return await connection.fetchval(ENTRIES_SQL)


async def totals_per_currency(connection: asyncpg.Connection) -> dict[str, tuple[int, int]]:
    """Debit and credit totals of every line, per currency."""
    rows = await connection.fetch(TOTALS_SQL)
    return {row["currency"]: (minor_units(row["debit"]), minor_units(row["credit"])) for row in rows}


async def lines_per_account(connection: asyncpg.Connection) -> dict[tuple[str, str], tuple[int, int]]:
    """(account, currency) -> (debit, credit) summed over the lines."""
    rows = await connection.fetch(LINES_PER_ACCOUNT_SQL)
    return {(row[0], row[1]): (minor_units(row[2]), minor_units(row[3])) for row in rows}


async def untraced_entries(connection: asyncpg.Connection, grace_start: datetime) -> list[asyncpg.Record]:
    """Entries the scheme did not ask for (or with other lines), and reversals posted before `grace_start`
    whose reversed entry is not in the journal."""
    return await connection.fetch(TRACED_SQL, grace_start)


async def pending_reversals(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    return await connection.fetch(REVERSALS_PENDING_SQL)


async def scheme_posting_count(connection: asyncpg.Connection) -> int:
    return await connection.fetchval(POSTINGS_SQL)


async def latest_unpostable(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    return await connection.fetch(LATEST_UNPOSTABLE_SQL)


async def unpostable_count(connection: asyncpg.Connection) -> int:
    return await connection.fetchval(UNPOSTABLE_SQL)
