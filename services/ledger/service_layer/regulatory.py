"""Regulatory reports against Regulation (EU) 2023/1542: collection rate, material recovery.

Rates are percent strings with two decimals and masses kilogram strings with
three (exact decimals in JSON, never binary floats). Years are UTC calendar years.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.ledger.adapters import regulatory_counts as figures
from services.ledger.adapters import regulatory_masses
from services.ledger.domain.composition import MATERIALS
from services.ledger.domain.material_recovery import MaterialRecovery, material_recovery
from services.ledger.domain.regulation import (
    COLLECTION_TARGETS,
    MATERIAL_RECOVERY_TARGETS,
    meets,
    next_target,
    rate_percent,
    target_in_force,
)
from services.ledger.service_layer.rows import decimal_text

COLLECTION_METHOD = (
    "batteries collected in the year (scheme.collections, orphans included) / batteries sold in "
    "the year (sale items in the market); an approximation of Annex XI, stated as such"
)
RECOVERY_METHOD = (
    "recovered mass / estimated material content of the batteries received in the lots recovered in the "
    "period (content = mass x typical fraction of the battery's chemistry), over the lots whose every "
    "received battery has a known composition; a lot holding a battery of unknown composition (an orphan, "
    "chemistry other) is left out of both, whole: see lots_left_out, input_mass_kg_left_out, "
    "recovered_kg_left_out and coverage_percent (covered input mass / all input mass)"
)


async def collection_report(
    pool: asyncpg.Pool, year: int | None = None, category: str | None = None
) -> dict[str, Any]:
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        sold = await figures.sold(connection)
        collected = await figures.collected(connection)
    counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in sold:
        counts[(row["year"], row["category"])][0] += row["n"]
    for row in collected:
        counts[(row["year"], row["category"])][1] += row["n"]
    keys = sorted(
        k for k in counts if (year is None or k[0] == year) and (category is None or k[1] == category)
    )
    return {
        "year": year,
        "category": category,
        "method": COLLECTION_METHOD,
        "rows": [_collection_row(y, c, *counts[(y, c)]) for y, c in keys],
    }


def _collection_row(year: int, category: str, sold: int, collected: int) -> dict[str, Any]:
    targets = COLLECTION_TARGETS.get(category, ())
    target, upcoming = target_in_force(targets, year), next_target(targets, year)
    rate = rate_percent(collected, sold)
    return {
        "year": year,
        "category": category,
        "sold": sold,
        "collected": collected,
        "collection_rate_percent": None if rate is None else str(rate),
        "target": target.as_dict() if target else None,
        "next_target": upcoming.as_dict() if upcoming else None,
        "meets_target": meets(rate, target),
    }


async def recovery_report(pool: asyncpg.Pool, year: int | None = None) -> dict[str, Any]:
    """Recovered mass, content and rate per material of the lots recovered in `year` (every year when
    None), counting only the lots whose every received battery has a known composition
    (`domain.material_recovery`); what was left out is stated beside the rates."""
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        lots = await regulatory_masses.recovered_lots(connection, year)
        recovered = await figures.recovered(connection, year)
    result = material_recovery(lots, recovered)
    target_year = year or datetime.now(UTC).year
    materials = sorted(set(MATERIALS) | set(result.recovered_kg) | set(result.recovered_kg_left_out))
    coverage = result.coverage_percent
    return {
        "year": year,
        "method": RECOVERY_METHOD,
        "lots": result.lots,
        "input_mass_kg": decimal_text(result.input_kg),
        "batteries_received": result.batteries,
        "batteries_without_composition": result.batteries_without_composition,
        "lots_left_out": result.lots_left_out,
        "input_mass_kg_left_out": decimal_text(result.input_kg_left_out),
        "coverage_percent": None if coverage is None else str(coverage),
        "materials": [_material_row(m, result, target_year) for m in materials],
    }


def _material_row(material: str, result: MaterialRecovery, year: int) -> dict[str, Any]:
    target = target_in_force(MATERIAL_RECOVERY_TARGETS.get(material, ()), year)
    upcoming = next_target(MATERIAL_RECOVERY_TARGETS.get(material, ()), year)
    rate = result.rate_percent(material)
    return {
        "material": material,
        "recovered_kg": decimal_text(result.recovered_kg.get(material, Decimal(0))),
        "recovered_kg_left_out": decimal_text(result.recovered_kg_left_out.get(material, Decimal(0))),
        "content_kg": decimal_text(result.content_kg.get(material)),
        "recovery_rate_percent": None if rate is None else str(rate),
        "target": target.as_dict() if target else None,
        "next_target": upcoming.as_dict() if upcoming else None,
        "meets_target": meets(rate, target),
    }
