"""What a battery passport reads: the battery, its last known state of health and mass, its custody chain.

One statement serves one battery and the export of all of them: the chain comes as an array of
records in seq order, the state of health and an orphan's mass from the latest collection that gave
one. The export reads through a cursor in serial order, `EXPORT_PREFETCH_ROWS` at a time, so memory
holds a bounded number of batteries however many the scheme has.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg

from services.ledger.domain.passport import BatteryRecord, CustodyStep, Party

EXPORT_PREFETCH_ROWS = 500  # batteries read ahead by the export's cursor

_PASSPORT_SELECT = """
    SELECT b.serial, b.state, b.category, b.chemistry, b.custodian_kind, b.custodian_id,
           coalesce(b.mass_kg, (SELECT c.mass_kg FROM scheme.collections c
                                 WHERE c.serial = b.serial AND c.mass_kg IS NOT NULL
                                 ORDER BY c.occurred_at DESC, c.event_id DESC LIMIT 1)) AS mass_kg,
           (SELECT c.state_of_health_pct FROM scheme.collections c
             WHERE c.serial = b.serial AND c.state_of_health_pct IS NOT NULL
             ORDER BY c.occurred_at DESC, c.event_id DESC LIMIT 1) AS state_of_health_pct,
           ARRAY(SELECT ROW(h.at, h.event_id, h.event_type, h.from_kind, h.from_id, h.to_kind, h.to_id,
                            h.state)
                   FROM scheme.custody_history h WHERE h.serial = b.serial ORDER BY h.seq) AS history
      FROM scheme.batteries b"""
ONE_SQL = _PASSPORT_SELECT + " WHERE b.serial = $1"
EXPORT_SQL = _PASSPORT_SELECT + " WHERE ($1::text IS NULL OR b.category = $1) ORDER BY b.serial"


def _party(kind: str | None, id_: str | None) -> Party | None:
    return None if kind is None or id_ is None else Party(kind, id_)


def _record(row: asyncpg.Record) -> BatteryRecord:
    custodian = _party(row["custodian_kind"], row["custodian_id"])
    assert custodian is not None, "every battery has a custodian (NOT NULL columns)"
    history = []
    for at, event_id, event_type, from_kind, from_id, to_kind, to_id, state in row["history"]:
        to = _party(to_kind, to_id)
        assert to is not None, "every custody line has a `to` (NOT NULL columns)"
        history.append(CustodyStep(at, event_id, event_type, _party(from_kind, from_id), to, state))
    return BatteryRecord(
        row["serial"],
        row["state"],
        row["category"],
        row["chemistry"],
        row["mass_kg"],
        row["state_of_health_pct"],
        custodian,
        tuple(history),
    )


async def battery_record(pool: asyncpg.Pool, serial: str) -> BatteryRecord | None:
    async with pool.acquire() as connection:
        row = await connection.fetchrow(ONE_SQL, serial)
    return None if row is None else _record(row)


async def battery_records(pool: asyncpg.Pool, category: str | None) -> AsyncIterator[BatteryRecord]:
    """Every battery (of `category` when given) in serial order, read in one snapshot."""
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        async for row in connection.cursor(EXPORT_SQL, category, prefetch=EXPORT_PREFETCH_ROWS):
            yield _record(row)
