"""Releasing unclaimed deposits (contract 8.1), set-based: the batteries are found and marked by SQL.

The batteries a release covers are spread over every serial-keyed partition,
so no batch has them loaded: one statement finds them (the rule of
`streams.domain.release.releasable`, in SQL), locks them in serial order, as
every batch locks batteries, and marks them released, a part of at most
RELEASE_PART_BATTERIES at a time (memory stays bounded however many there
are). Each battery gets a `scheme.released_deposits` row, and the release one
ledger entry (`release:<release_id>`: liability to reserve, the total), so
every released battery is traceable to its entry. Only batteries not yet
released are taken: running a release again releases nothing twice.

A release whose deposits together exceed one journal line's bound (2^63-1)
is posted as several entries, each within it (`streams.domain.release.
ReleaseParts`, in serial order); each battery's row names its part, and so
its entry (`release:<id>` for part 1, `release:<id>#<n>` for part n).
"""

from __future__ import annotations

import asyncpg

from streams.adapters.rows import ReleasedDepositRow, ReleaseRow, columns, record_of
from streams.domain import postings
from streams.domain.postings import Posting
from streams.domain.release import Release, ReleaseParts

RELEASE_PART_BATTERIES = 10_000  # batteries released by one statement

# streams.domain.release.releasable, in SQL ($1 currency, $2 sold_before): the tests hold them together.
RELEASABLE = (
    "state = 'in_use' AND contract = 'deposit' AND currency = $1 AND sold_at < $2"
    " AND deposit_charged > 0 AND NOT deposit_released"
)
RELEASE_PART_SQL = f"""
    WITH chosen AS (
        SELECT serial FROM scheme.batteries WHERE {RELEASABLE} AND serial > $3
         ORDER BY serial LIMIT $4 FOR UPDATE)
    UPDATE scheme.batteries b SET deposit_released = true FROM chosen WHERE b.serial = chosen.serial
    RETURNING b.serial, b.deposit_charged"""


async def release_deposits(
    connection: asyncpg.Connection, release: Release, part_batteries: int = RELEASE_PART_BATTERIES
) -> tuple[list[Posting], int]:
    """Release every deposit the release covers, part by part: its postings (none if none), how many."""
    assert part_batteries >= 1, "a part holds one battery or more"
    await _insert_release(connection, release)
    parts = ReleaseParts()
    released, after = 0, ""
    while True:
        rows = await connection.fetch(
            RELEASE_PART_SQL, release.currency, release.sold_before, after, part_batteries
        )
        if not rows:
            break
        records = [
            ReleasedDepositRow(
                release.release_id,
                r["serial"],
                r["deposit_charged"],
                release.currency,
                parts.add(r["deposit_charged"]),
            )
            for r in sorted(rows, key=lambda r: r["serial"])
        ]
        await connection.copy_records_to_table(
            "released_deposits",
            schema_name="scheme",
            columns=list(columns(ReleasedDepositRow)),
            records=map(record_of(ReleasedDepositRow), records),
        )
        released += len(records)
        after = records[-1].serial
        if len(rows) < part_batteries:
            break
    made = [
        postings.deposits_released(
            release.release_id, total, release.currency, release.event_id, release.occurred_at, part
        )
        for part, total in enumerate(parts.totals, start=1)
    ]
    posted = [posting for posting in made if posting is not None]
    assert len(posted) == len(parts.totals), "a release posts exactly what it released, part by part"
    return posted, released


async def _insert_release(connection: asyncpg.Connection, release: Release) -> None:
    row = ReleaseRow(
        release.release_id, release.event_id, release.currency, release.sold_before, release.occurred_at
    )
    await connection.copy_records_to_table(
        "releases",
        schema_name="scheme",
        columns=list(columns(ReleaseRow)),
        records=[record_of(ReleaseRow)(row)],
    )
