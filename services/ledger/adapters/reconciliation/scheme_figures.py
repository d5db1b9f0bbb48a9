"""What the checks of the scheme's own records read: the inbox's outcomes, custody, the input offsets."""

from __future__ import annotations

import uuid

import asyncpg

EVENTS_SQL = "SELECT event_type, outcome, count(*) AS events FROM scheme.inbox GROUP BY 1, 2 ORDER BY 1, 2"
WITHOUT_REASON_SQL = "SELECT count(*) FROM scheme.inbox WHERE outcome = 'rejected' AND reason IS NULL"
# A battery whose state is not the state of its last custody record, or with records after its last.
INCONSISTENT_SQL = """
    SELECT b.serial, b.state, h.state AS last_recorded_state, b.history_length,
           EXISTS (SELECT 1 FROM scheme.custody_history x
                    WHERE x.serial = b.serial AND x.seq > b.history_length) AS records_after_last
      FROM scheme.batteries b
      LEFT JOIN scheme.custody_history h ON h.serial = b.serial AND h.seq = b.history_length
     WHERE ({where}) AND (h.serial IS NULL OR h.state <> b.state
        OR EXISTS (SELECT 1 FROM scheme.custody_history x WHERE x.serial = b.serial AND x.seq >
        b.history_length))
     ORDER BY h.at DESC NULLS FIRST, b.serial"""
# The same, of the batteries given ($1): each looks up its own custody records from its last on (one range of
# the history's key), so the cost is the batteries', not the history's (the join above read it whole).
INCONSISTENT_AMONG_SQL = """
    SELECT b.serial, b.state, h.state AS last_recorded_state, b.history_length,
           coalesce(h.after, false) AS records_after_last
      FROM scheme.batteries b
      CROSS JOIN LATERAL (
          SELECT max(x.state) FILTER (WHERE x.seq = b.history_length) AS state,
                 max(x.at) FILTER (WHERE x.seq = b.history_length) AS at,
                 bool_or(x.seq = b.history_length) AS recorded, bool_or(x.seq > b.history_length) AS after
            FROM scheme.custody_history x WHERE x.serial = b.serial AND x.seq >= b.history_length) AS h
     WHERE b.serial = ANY($1::text[])
       AND (NOT coalesce(h.recorded, false) OR h.state <> b.state OR coalesce(h.after, false))
     ORDER BY h.at DESC NULLS FIRST, b.serial"""
# The runs of input offsets given an outcome, merged into islands per partition (revision 0012).
ISLANDS_SQL = "SELECT * FROM scheme.input_offset_islands() ORDER BY topic, partition, first_offset"
KNOWN_SQL = (
    "SELECT event_id FROM scheme.inbox WHERE event_id = ANY($1::uuid[]) UNION ALL "
    "SELECT event_id FROM scheme.outbox WHERE event_id = ANY($2::uuid[])"
)


async def events_by_type(connection: asyncpg.Connection) -> list[tuple[str, str, int]]:
    """(event type, outcome, events) of every event read."""
    return [(row[0], row[1], row[2]) for row in await connection.fetch(EVENTS_SQL)]


async def rejected_without_reason(connection: asyncpg.Connection) -> int:
    return await connection.fetchval(WITHOUT_REASON_SQL)


async def inconsistent_batteries(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every battery whose state is not that of its last custody record, or with records after it."""
    return await connection.fetch(INCONSISTENT_SQL.format(where="true"))


async def inconsistent_among(connection: asyncpg.Connection, serials: list[str]) -> list[asyncpg.Record]:
    """The inconsistent batteries among these."""
    return await connection.fetch(INCONSISTENT_AMONG_SQL, serials)


async def offset_islands(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """`topic`, `partition`, `first_offset`, `last_offset`: the runs of input offsets given an outcome."""
    return await connection.fetch(ISLANDS_SQL)


async def known_events(
    connection: asyncpg.Connection, event_ids: list[uuid.UUID], rejection_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of `event_ids` in the inbox and those of `rejection_ids` in the scheme's outbox."""
    return {row[0] for row in await connection.fetch(KNOWN_SQL, event_ids, rejection_ids)}
