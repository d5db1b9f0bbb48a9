"""What reconciliation reads of the two tables the scheme updates in place: batteries and sale items.

A full run sums them whole (one pass each). An incremental run reads only the changes recorded since the
previous run's watermark (`scheme.battery_deltas`, `scheme.sale_item_deltas`: one row per statement that
changed them, written in its transaction by the triggers of revision 0023, read by window as the other
append-only tables). The predicates here are the triggers' own: change one, and the revision with it.
"""

from __future__ import annotations

import asyncpg

from services.ledger.adapters.reconciliation.window_figures import WINDOW_OF

IN_USE = "state = 'in_use' AND contract = 'deposit' AND NOT deposit_released"
OWED = "i.status NOT IN ('cancelled', 'returned_to_store')"
IN_MARKET = "i.status = 'in_market'"

BATTERY_TOTALS_SQL = f"""
    SELECT currency, count(*), count(*) FILTER (WHERE {IN_USE}), sum(deposit_charged) FILTER (WHERE {IN_USE}),
           count(*) FILTER (WHERE deposit_released), sum(deposit_charged) FILTER (WHERE deposit_released),
           sum(deposit_refunded) FILTER (WHERE deposit_released)
      FROM scheme.batteries GROUP BY currency"""
SALE_ITEM_TOTALS_SQL = f"""
    SELECT s.store_id, s.currency,
           count(*) FILTER (WHERE {OWED}), sum(i.deposit + i.recycling_fee) FILTER (WHERE {OWED}),
           count(*) FILTER (WHERE {IN_MARKET}), sum(i.recycling_fee) FILTER (WHERE {IN_MARKET})
      FROM scheme.sale_items i JOIN scheme.sales s USING (sale_id) GROUP BY 1, 2"""

IN_WINDOW = WINDOW_OF.format(t="t")
BATTERY_DELTAS_SQL = f"""
    SELECT t.currency, sum(t.batteries), sum(t.liability_n), sum(t.liability), sum(t.released_n),
           sum(t.released), sum(t.refunded_of_released)
      FROM scheme.battery_deltas t WHERE {IN_WINDOW} GROUP BY 1"""
SALE_ITEM_DELTAS_SQL = f"""
    SELECT t.store_id, t.currency, sum(t.owed_n), sum(t.owed), sum(t.fees_n), sum(t.fees)
      FROM scheme.sale_item_deltas t WHERE {IN_WINDOW} GROUP BY 1, 2"""

# The triggers that record the changes, as the catalog has them: a trigger disabled, dropped or made again
# since a run gets a new catalog row (a new `xmin`, or a new oid).
RECORDING_TRIGGERS = {
    "scheme.batteries": ("batteries_deltas_insert", "batteries_deltas_update", "batteries_deltas_delete"),
    "scheme.sale_items": ("sale_items_deltas_insert", "sale_items_deltas_update", "sale_items_deltas_delete"),
}
TRIGGERS_SQL = """
    SELECT r.name || ' ' || t.tgname AS name, t.oid::bigint AS oid, t.xmin::text AS xmin,
           t.tgenabled::text AS enabled
      FROM unnest($1::text[]) AS r(name) JOIN pg_catalog.pg_trigger t ON t.tgrelid = to_regclass(r.name)
     WHERE t.tgname = ANY($2::text[])"""


async def battery_totals(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """Per currency: batteries; in use under a deposit (count, deposits); released (count, deposits,
    refunds)."""
    return await connection.fetch(BATTERY_TOTALS_SQL)


async def sale_item_totals(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """Per store and currency: items owed for (count, deposits + fees), in the market (count, fees)."""
    return await connection.fetch(SALE_ITEM_TOTALS_SQL)


async def battery_deltas(connection: asyncpg.Connection, since: str) -> list[asyncpg.Record]:
    """The window's changes of `battery_totals`."""
    return await connection.fetch(BATTERY_DELTAS_SQL, since)


async def sale_item_deltas(connection: asyncpg.Connection, since: str) -> list[asyncpg.Record]:
    """The window's changes of `sale_item_totals`."""
    return await connection.fetch(SALE_ITEM_DELTAS_SQL, since)


async def recording_triggers(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """`name` (table and trigger), `oid`, `xmin` and `enabled` of each trigger that records changes."""
    names = [name for names in RECORDING_TRIGGERS.values() for name in names]
    return await connection.fetch(TRIGGERS_SQL, list(RECORDING_TRIGGERS), names)
