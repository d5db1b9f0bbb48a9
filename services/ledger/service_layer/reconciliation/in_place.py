"""The totals of batteries and sale items (updated in place), read once a run and carried to the next.

A full run sums both tables whole; an incremental run adds the changes recorded in its window (revision
0023) to the totals the previous run carried, and reads neither table whole. Both keep the totals in
`snapshot.carry` (`battery_totals`, `sale_item_totals`) for the checks that use them and for the next run.
"""

from __future__ import annotations

import asyncpg

from services.ledger.adapters.reconciliation import in_place_figures as figures
from services.ledger.domain import in_place_totals as totals
from services.ledger.service_layer.reconciliation.snapshot import Snapshot

BATTERIES, SALE_ITEMS = "battery_totals", "sale_item_totals"


async def battery_totals(connection: asyncpg.Connection, snapshot: Snapshot) -> totals.BatteryTotals:
    if BATTERIES not in snapshot.carry:
        found = totals.battery_totals(await figures.battery_totals(connection))
        snapshot.carry[BATTERIES] = totals.battery_json(found)
    return totals.battery_totals(snapshot.carry[BATTERIES])


async def sale_item_totals(connection: asyncpg.Connection, snapshot: Snapshot) -> totals.SaleItemTotals:
    if SALE_ITEMS not in snapshot.carry:
        found = totals.sale_item_totals(await figures.sale_item_totals(connection))
        snapshot.carry[SALE_ITEMS] = totals.sale_item_json(found)
    return totals.sale_item_totals(snapshot.carry[SALE_ITEMS])


async def carry_forward(
    connection: asyncpg.Connection, since: str, carried: dict, snapshot: Snapshot
) -> tuple[totals.BatteryTotals, totals.SaleItemTotals]:
    """The previous run's totals plus the window's changes (`since` the previous watermark), carried on."""
    batteries = totals.add(
        totals.battery_totals(carried[BATTERIES]),
        totals.battery_totals(await figures.battery_deltas(connection, since)),
    )
    items = totals.add(
        totals.sale_item_totals(carried[SALE_ITEMS]),
        totals.sale_item_totals(await figures.sale_item_deltas(connection, since)),
    )
    snapshot.carry[BATTERIES], snapshot.carry[SALE_ITEMS] = (
        totals.battery_json(batteries),
        totals.sale_item_json(items),
    )
    return batteries, items
