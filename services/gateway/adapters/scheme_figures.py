"""Figures of the whole scheme read from PostgreSQL at scrape time: cheap queries with a timeout.

- events processed, from `scheme.inbox` (applied or rejected, by type and reason);
- posting latency, `posted_at - effective_at` of the last `POSTING_SAMPLE_ENTRIES` journal entries.
"""

from __future__ import annotations

import re
from collections import Counter

import asyncpg

from contracts.topics import IN_EVENT_TYPES

QUERY_TIMEOUT_S = 2.0
POSTING_SAMPLE_ENTRIES = 1000
POSTING_QUANTILES = (0.5, 0.9, 0.99)
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")

_PROCESSED_SQL = """
    SELECT event_type, outcome, coalesce(reason, '') AS reason, count(*) AS events
      FROM scheme.inbox GROUP BY event_type, outcome, reason"""
_POSTING_LATENCY_SQL = """
    SELECT count(*) AS entries, max(latency_s) AS latency_max_s,
           percentile_cont($2::float8[]) WITHIN GROUP (ORDER BY latency_s) AS quantiles
      FROM (SELECT extract(epoch FROM posted_at - effective_at)::float8 AS latency_s
              FROM ledger.entries
             WHERE seq > (SELECT pg_sequence_last_value('ledger.entries_seq_seq') - 2 * $1)  -- its BRIN index
             ORDER BY seq DESC LIMIT $1) AS recent"""


async def events_processed(pool: asyncpg.Pool) -> Counter[tuple[str, str, str]]:
    """(type, outcome, reason) -> events; unknown types and odd reasons folded to bound the labels."""
    rows = await pool.fetch(_PROCESSED_SQL, timeout=QUERY_TIMEOUT_S)
    processed: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        event_type = row["event_type"] if row["event_type"] in IN_EVENT_TYPES else "unknown"
        reason = row["reason"] if not row["reason"] or _CODE.fullmatch(row["reason"]) else "other"
        processed[(event_type, row["outcome"], reason)] += row["events"]
    return processed


async def posting_latency(pool: asyncpg.Pool) -> dict[str, float]:
    """{"entries", "max", "0.5", "0.9", "0.99"} in seconds over the latest entries; empty if none."""
    row = await pool.fetchrow(
        _POSTING_LATENCY_SQL, POSTING_SAMPLE_ENTRIES, list(POSTING_QUANTILES), timeout=QUERY_TIMEOUT_S
    )
    if row is None or not row["entries"]:
        return {}
    figures = {"entries": float(row["entries"]), "max": float(row["latency_max_s"])}
    figures.update({str(q): float(value) for q, value in zip(POSTING_QUANTILES, row["quantiles"])})
    return figures
