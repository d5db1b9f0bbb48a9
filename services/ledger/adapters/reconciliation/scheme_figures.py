"""What the checks of the scheme's own records read: the inbox's outcomes, custody, the input offsets."""

from __future__ import annotations

import uuid

import asyncpg

from services.ledger.adapters.reconciliation.window_figures import WINDOW_BATTERIES

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
# The same, of the window's batteries and those the previous run named ($2), with how many were checked (one
# row of nulls after `checked` when none is inconsistent). Each battery looks up its own custody records from
# its last on (one range of the history's key), so the cost is the window's, not the history's (the join
# above read it whole); the window's serials stay in the database (`window_figures.CHANGED_SERIALS`).
INCONSISTENT_IN_WINDOW_SQL = f"""
    WITH serials AS MATERIALIZED ({WINDOW_BATTERIES} UNION SELECT unnest($2::text[])),
    found AS (
        SELECT b.serial, b.state, h.state AS last_recorded_state, b.history_length,
               coalesce(h.after, false) AS records_after_last, h.at
          FROM serials s
          CROSS JOIN LATERAL (  -- OFFSET 0: a lookup per serial, not a join over the batteries
              SELECT * FROM scheme.batteries x WHERE x.serial = s.serial OFFSET 0) AS b
          CROSS JOIN LATERAL (
              SELECT max(x.state) FILTER (WHERE x.seq = b.history_length) AS state,
                     max(x.at) FILTER (WHERE x.seq = b.history_length) AS at,
                     bool_or(x.seq = b.history_length) AS recorded, bool_or(x.seq > b.history_length) AS after
                FROM scheme.custody_history x WHERE x.serial = b.serial AND x.seq >= b.history_length) AS h
         WHERE NOT coalesce(h.recorded, false) OR h.state <> b.state OR coalesce(h.after, false))
    SELECT (SELECT count(*) FROM serials) AS checked, f.serial, f.state, f.last_recorded_state,
           f.history_length, f.records_after_last
      FROM (SELECT) AS one LEFT JOIN found f ON true
     ORDER BY f.at DESC NULLS FIRST, f.serial"""
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


async def inconsistent_in_window(
    connection: asyncpg.Connection, since: str, named: list[str]
) -> tuple[int, list[asyncpg.Record]]:
    """How many batteries the window (since the watermark `since`) and `named` hold, and the inconsistent
    among them."""
    rows = await connection.fetch(INCONSISTENT_IN_WINDOW_SQL, since, named)
    return rows[0]["checked"], [row for row in rows if row["serial"] is not None]


async def offset_islands(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """`topic`, `partition`, `first_offset`, `last_offset`: the runs of input offsets given an outcome."""
    return await connection.fetch(ISLANDS_SQL)


async def known_events(
    connection: asyncpg.Connection, event_ids: list[uuid.UUID], rejection_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of `event_ids` in the inbox and those of `rejection_ids` in the scheme's outbox."""
    return {row[0] for row in await connection.fetch(KNOWN_SQL, event_ids, rejection_ids)}
