"""Reports for the regulator by weight (contract 8.3): collection against Annex XI's three-year average,
recycling efficiency per chemistry group against Annex XII Part B.

Masses are kilogram strings with three decimals and rates percent strings with two (exact decimals in
JSON, never binary floats). Years are UTC calendar years. The rules are in
`services.ledger.domain.collection_weight` and `services.ledger.domain.recycling_efficiency`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.ledger.adapters import regulatory_masses
from services.ledger.domain.collection_weight import WeightRow, weight_rows
from services.ledger.domain.recycling_efficiency import GroupRow, efficiency
from services.ledger.service_layer.rows import decimal_text

COLLECTION_WEIGHT_METHOD = (
    "Annex XI: kilograms collected in the year (every applied collection, orphans included; a collection "
    "without mass_kg counts its sale item's mass) / the average kilograms placed on the market (sale "
    "items in the market) in that year and the two before; a year with no sales counts as zero"
)
EFFICIENCY_METHOD = (
    "Annex XII Part B: output mass / input mass of the lots whose recovery was confirmed in the period; a "
    "lot's masses are shared among chemistry groups by the sale mass of its received batteries (by their "
    "number when none has a known mass); a lot without output_mass_kg is left out and counted apart"
)


def _rate_text(rate: Any) -> str | None:
    return None if rate is None else str(rate)


def _target_dict(target: Any) -> dict[str, Any] | None:
    return None if target is None else target.as_dict()


def _weight_row(row: WeightRow, by_country: bool) -> dict[str, Any]:
    target, upcoming = row.targets()
    placed_in_year, year_before, two_before = row.placed_kg
    return {
        "year": row.year,
        "category": row.category,
        **({"country": row.country} if by_country else {}),
        "collected_kg": decimal_text(row.collected_kg),
        "collections": row.collections,
        "collections_without_mass": row.collections_without_mass,
        "placed_kg_in_year": decimal_text(placed_in_year),
        "placed_kg_year_before": decimal_text(year_before),
        "placed_kg_two_years_before": decimal_text(two_before),
        "average_placed_kg": decimal_text(row.average_placed_kg),
        "collection_rate_percent": _rate_text(row.rate),
        "target": _target_dict(target),
        "next_target": _target_dict(upcoming),
        "meets_target": row.meets_target(),
    }


async def collection_by_weight(
    pool: asyncpg.Pool, year: int | None = None, category: str | None = None, by_country: bool = False
) -> dict[str, Any]:
    """Collected kilograms against the three-year average placed on the market, per year and category
    (and country when `by_country`)."""
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        placed = await regulatory_masses.placed_on_market(connection, year, category)
        collected = await regulatory_masses.collected(connection, year, category)
    rows = weight_rows(placed, collected, year, category, by_country)
    return {
        "year": year,
        "category": category,
        "basis": "weight",
        "by": "country" if by_country else None,
        "method": COLLECTION_WEIGHT_METHOD,
        "rows": [_weight_row(row, by_country) for row in rows],
    }


def _group_row(row: GroupRow, target_year: int) -> dict[str, Any]:
    target, upcoming = row.targets(target_year)
    return {
        "group": row.group,
        "lots": row.lots,
        "batteries": row.batteries,
        "input_kg": decimal_text(row.input_kg),
        "output_kg": decimal_text(row.output_kg),
        "recycling_efficiency_percent": _rate_text(row.rate),
        "target": _target_dict(target),
        "next_target": _target_dict(upcoming),
        "meets_target": row.meets_target(target_year),
    }


async def recycling_efficiency(pool: asyncpg.Pool, year: int | None = None) -> dict[str, Any]:
    """Output over input mass per chemistry group of the lots recovered in `year` (every year when None,
    judged against the targets in force this year)."""
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        lots = await regulatory_masses.recovered_lots(connection, year)
    result = efficiency(lots)
    target_year = year or datetime.now(UTC).year
    return {
        "year": year,
        "method": EFFICIENCY_METHOD,
        "lots": result.lots,
        "lots_without_output_mass": result.lots_without_output_mass,
        "input_kg_without_output_mass": decimal_text(result.input_kg_without_output_mass),
        "lots_without_batteries": result.lots_without_batteries,
        "batteries_without_mass": result.batteries_without_mass,
        "groups": [_group_row(row, target_year) for row in result.groups.values()],
    }
