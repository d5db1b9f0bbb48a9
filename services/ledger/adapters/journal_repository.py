"""The journal in PostgreSQL: set-based writes of one batch, inside the caller's transaction.

An entry is one row of `ledger.entries`, its lines four arrays (revision 0014):
one query finds which entries of the batch are posted already (with their
content hash) and the transaction's time, then the new ones go in by one binary
COPY, checked by the table's constraint. A posting seen again writes nothing;
movements are one row per account and currency per batch, so no balance is a
hot row; their debit and credit are numeric (revision 0024): a batch's total on
one account may exceed a bigint, though each line is within one.
"""

from __future__ import annotations

import operator
import uuid
from dataclasses import fields
from datetime import datetime

import asyncpg

from services.ledger.domain.batch import Unpostable
from services.ledger.domain.journal import Entry

# The COPY's columns: an `Entry`'s fields in their order, then the time of the posting transaction.
ENTRY_FIELDS = tuple(field.name for field in fields(Entry))
ENTRY_COLUMNS = (*ENTRY_FIELDS, "posted_at")
_entry_values = operator.attrgetter(*ENTRY_FIELDS)


async def posted_and_now(
    connection: asyncpg.Connection, entries: list[Entry]
) -> tuple[datetime, dict[uuid.UUID, bytes | None]]:
    """The transaction's time, and the content hash of each entry of `entries` already posted (by its id)."""
    row = await connection.fetchrow(
        """SELECT now() AS posted_at, array_agg(e.entry_id) AS ids, array_agg(e.content_hash) AS hashes
             FROM ledger.entries e WHERE e.entry_id = ANY($1::uuid[])""",
        [entry.entry_id for entry in entries],
    )
    return row["posted_at"], dict(zip(row["ids"] or (), row["hashes"] or ()))


async def copy_entries(connection: asyncpg.Connection, entries: list[Entry], posted_at: datetime) -> None:
    """COPY the entries in, one row each (a concurrent copy of one of them: `UniqueViolationError`)."""
    if entries:
        await connection.copy_records_to_table(
            "entries",
            schema_name="ledger",
            columns=ENTRY_COLUMNS,
            records=[(*_entry_values(entry), posted_at) for entry in entries],
        )


async def insert_movements(
    connection: asyncpg.Connection, movements: dict[tuple[str, str], tuple[int, int]], posted_at: datetime
) -> None:
    if not movements:
        return
    accounts = sorted(movements)
    await connection.execute(
        """INSERT INTO ledger.account_movements (batch_id, account, currency, debit, credit, posted_at)
           SELECT $1::uuid, m.*, $6::timestamptz
             FROM unnest($2::text[], $3::text[], $4::numeric[], $5::numeric[]) AS m""",
        uuid.uuid4(),
        [a for a, _ in accounts],
        [c for _, c in accounts],
        [movements[k][0] for k in accounts],
        [movements[k][1] for k in accounts],
        posted_at,
    )


async def insert_unpostable(connection: asyncpg.Connection, unpostable: list[Unpostable]) -> int:
    """Store refused messages once each (a replay of the same offset adds nothing)."""
    if not unpostable:
        return 0
    result = await connection.execute(
        """INSERT INTO ledger.unpostable (topic, partition, "offset", key, value, error)
           SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::bytea[], $6::text[])
           ON CONFLICT (topic, partition, "offset") DO NOTHING""",
        [u.message.topic for u in unpostable],
        [u.message.partition for u in unpostable],
        [u.message.offset for u in unpostable],
        [u.key_text for u in unpostable],
        [u.message.value or b"" for u in unpostable],
        [u.error for u in unpostable],
    )
    return int(result.split()[-1])
