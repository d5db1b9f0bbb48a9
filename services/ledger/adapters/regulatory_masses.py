"""What the weight-based reports read: kilograms placed on the market and collected, per year,
category and country (Annex XI), and the lots recovered with the batteries received in them (Annex XII
Part B).

Years are UTC calendar years, bounded by instants so a range scan can serve them. A battery's known
mass is its sale item's, else (an orphan) the mass its latest collection logged.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import asyncpg

from services.ledger.domain.collection_weight import AVERAGE_OVER_YEARS, Collected, Placed
from services.ledger.domain.recycling_efficiency import ReceivedBatteries, RecoveredLot

_YEAR = "extract(year FROM {column} AT TIME ZONE 'UTC')::int"


def _in_years(column: str, span_years: int) -> str:
    """`column` in the UTC calendar years $1 - span + 1 to $1 (any year when $1 is null)."""
    first = f"$1::int - {int(span_years) - 1}"
    return (
        f"($1::int IS NULL OR ({column} >= make_timestamptz({first}, 1, 1, 0, 0, 0, 'UTC') "
        f"AND {column} < make_timestamptz($1::int + 1, 1, 1, 0, 0, 0, 'UTC')))"
    )


PLACED_SQL = f"""
    SELECT {_YEAR.format(column="s.occurred_at")} AS year, i.category, s.country,
           sum(i.mass_kg) AS mass_kg
      FROM scheme.sale_items i JOIN scheme.sales s USING (sale_id)
     WHERE i.status = 'in_market' AND {_in_years("s.occurred_at", AVERAGE_OVER_YEARS)}
       AND ($2::text IS NULL OR i.category = $2)
     GROUP BY 1, 2, 3"""

COLLECTED_SQL = f"""
    SELECT {_YEAR.format(column="c.occurred_at")} AS year, coalesce(b.category, 'unknown') AS category,
           c.country, coalesce(sum(coalesce(c.mass_kg, i.mass_kg)), 0) AS mass_kg, count(*) AS collections,
           count(*) FILTER (WHERE c.mass_kg IS NULL AND i.mass_kg IS NULL) AS without_mass
      FROM scheme.collections c
      LEFT JOIN scheme.batteries b ON b.serial = c.serial
      LEFT JOIN scheme.sale_items i ON i.sale_id = b.sale_id AND i.serial = c.serial
     WHERE {_in_years("c.occurred_at", 1)}
       AND ($2::text IS NULL OR coalesce(b.category, 'unknown') = $2)
     GROUP BY 1, 2, 3"""

RECOVERED_SQL = f"""
    SELECT r.lot_id, r.input_mass_kg, r.output_mass_kg, b.chemistry,
           count(li.serial) AS batteries,
           coalesce(sum(coalesce(b.mass_kg, m.mass_kg)), 0) AS mass_kg,
           count(li.serial) FILTER (WHERE b.mass_kg IS NULL AND m.mass_kg IS NULL) AS without_mass
      FROM scheme.recoveries r
      LEFT JOIN scheme.lot_items li ON li.lot_id = r.lot_id AND li.received
      LEFT JOIN scheme.batteries b ON b.serial = li.serial
      LEFT JOIN LATERAL (SELECT c.mass_kg FROM scheme.collections c
                          WHERE b.mass_kg IS NULL AND c.serial = li.serial AND c.mass_kg IS NOT NULL
                          ORDER BY c.occurred_at DESC LIMIT 1) AS m ON true
     WHERE {_in_years("r.occurred_at", 1)}
     GROUP BY r.lot_id, r.input_mass_kg, r.output_mass_kg, b.chemistry
     ORDER BY r.lot_id"""


async def placed_on_market(
    connection: asyncpg.Connection, year: int | None, category: str | None
) -> list[Placed]:
    """Kilograms placed in `year` and the two years before (every year when None)."""
    rows = await connection.fetch(PLACED_SQL, year, category)
    return [Placed(r["year"], r["category"], r["country"], r["mass_kg"]) for r in rows]


async def collected(
    connection: asyncpg.Connection, year: int | None, category: str | None
) -> list[Collected]:
    rows = await connection.fetch(COLLECTED_SQL, year, category)
    return [
        Collected(r["year"], r["category"], r["country"], r["mass_kg"], r["collections"], r["without_mass"])
        for r in rows
    ]


async def recovered_lots(connection: asyncpg.Connection, year: int | None) -> list[RecoveredLot]:
    """The lots recovered in `year` (every year when None), each with its received batteries by chemistry."""
    rows = await connection.fetch(RECOVERED_SQL, year)
    parts: dict[str, list[ReceivedBatteries]] = defaultdict(list)
    masses: dict[str, tuple[Decimal, Decimal | None]] = {}
    for r in rows:
        masses[r["lot_id"]] = (r["input_mass_kg"], r["output_mass_kg"])
        if r["batteries"]:
            parts[r["lot_id"]].append(
                ReceivedBatteries(r["chemistry"], r["batteries"], r["mass_kg"], r["without_mass"])
            )
    return [
        RecoveredLot(lot_id, input_kg, output_kg, tuple(parts[lot_id]))
        for lot_id, (input_kg, output_kg) in masses.items()
    ]
