"""The journal in PostgreSQL: set-based writes of one batch, inside the caller's transaction.

Entries go in with `ON CONFLICT (posting_key) DO NOTHING RETURNING`, so a posting
seen again writes nothing; lines of the new entries only go in by COPY (the
statement trigger `lines_balance` checks every entry of the COPY); movements are
one row per account and currency per batch, so no balance is a hot row.
"""
from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.ledger.domain.batch import Unpostable
from services.ledger.domain.journal import Entry

LINE_COLUMNS = ("entry_id", "line_no", "account", "currency", "debit", "credit", "posted_at")


async def insert_entries(connection: asyncpg.Connection, entries: list[Entry], posted_at: datetime) -> set[str]:
    """The posting keys that were new (and are now posted)."""
    if not entries:
        return set()
    rows = await connection.fetch(
        """INSERT INTO ledger.entries (entry_id, posting_key, kind, subject, caused_by, reverses,
                                       effective_at, content_hash, posted_at)
           SELECT e.*, $9::timestamptz
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::uuid[],
                         $7::timestamptz[], $8::bytea[]) AS e
           ON CONFLICT (posting_key) DO NOTHING
           RETURNING posting_key""",
        [e.entry_id for e in entries], [e.posting_key for e in entries], [e.kind for e in entries],
        [e.subject for e in entries], [e.caused_by for e in entries], [e.reverses for e in entries],
        [e.effective_at for e in entries], [e.content_hash for e in entries], posted_at,
    )
    return {row["posting_key"] for row in rows}


async def posted_content_hashes(connection: asyncpg.Connection, posting_keys: list[str]) -> dict[str, bytes | None]:
    rows = await connection.fetch(
        "SELECT posting_key, content_hash FROM ledger.entries WHERE posting_key = ANY($1::text[])", posting_keys)
    return {row["posting_key"]: row["content_hash"] for row in rows}


async def insert_lines(connection: asyncpg.Connection, entries: list[Entry], posted_at: datetime) -> None:
    records = [
        (entry.entry_id, line_no, line.account, line.currency, line.debit, line.credit, posted_at)
        for entry in entries
        for line_no, line in enumerate(entry.lines, start=1)
    ]
    if records:
        await connection.copy_records_to_table("lines", schema_name="ledger", records=records, columns=LINE_COLUMNS)


async def insert_movements(connection: asyncpg.Connection, movements: dict[tuple[str, str], tuple[int, int]],
                           posted_at: datetime) -> None:
    if not movements:
        return
    accounts = sorted(movements)
    await connection.execute(
        """INSERT INTO ledger.account_movements (batch_id, account, currency, debit, credit, posted_at)
           SELECT $1::uuid, m.*, $6::timestamptz
             FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS m""",
        uuid.uuid4(), [a for a, _ in accounts], [c for _, c in accounts],
        [movements[k][0] for k in accounts], [movements[k][1] for k in accounts], posted_at,
    )


async def insert_unpostable(connection: asyncpg.Connection, unpostable: list[Unpostable]) -> int:
    """Store refused messages once each (a replay of the same offset adds nothing)."""
    if not unpostable:
        return 0
    result = await connection.execute(
        """INSERT INTO ledger.unpostable (topic, partition, "offset", key, value, error)
           SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::bytea[], $6::text[])
           ON CONFLICT (topic, partition, "offset") DO NOTHING""",
        [u.message.topic for u in unpostable], [u.message.partition for u in unpostable],
        [u.message.offset for u in unpostable], [u.key_text for u in unpostable],
        [u.message.value or b"" for u in unpostable], [u.error for u in unpostable],
    )
    return int(result.split()[-1])
