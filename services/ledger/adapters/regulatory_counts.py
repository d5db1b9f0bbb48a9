"""What the count-based regulatory reports read: batteries sold and collected per year and category (the
collection rate), and the materials each lot's recovery confirmed (material recovery; the lots and the
batteries received in them are `regulatory_masses.recovered_lots`). Years are UTC calendar years.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import asyncpg

SOLD_SQL = """
    SELECT extract(year FROM s.occurred_at AT TIME ZONE 'UTC')::int AS year, i.category, count(*) AS n
      FROM scheme.sale_items i JOIN scheme.sales s USING (sale_id)
     WHERE i.status = 'in_market' GROUP BY 1, 2"""
COLLECTED_SQL = """
    SELECT extract(year FROM c.occurred_at AT TIME ZONE 'UTC')::int AS year,
           coalesce(b.category, 'unknown') AS category, count(*) AS n
      FROM scheme.collections c LEFT JOIN scheme.batteries b USING (serial) GROUP BY 1, 2"""
# A recovery in the UTC year $1 (any year when $1 is null).
_IN_YEAR = "($1::int IS NULL OR extract(year FROM r.occurred_at AT TIME ZONE 'UTC')::int = $1::int)"
RECOVERED_SQL = f"""
    SELECT m.lot_id, m.material, m.mass_kg
      FROM scheme.recovered_materials m JOIN scheme.recoveries r USING (lot_id)
     WHERE {_IN_YEAR}"""


async def sold(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """`year`, `category`, `n`: the sale items in the market, by the year of their sale."""
    return await connection.fetch(SOLD_SQL)


async def collected(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """`year`, `category` (`unknown` for an orphan), `n`: the collections, orphans included."""
    return await connection.fetch(COLLECTED_SQL)


async def recovered(connection: asyncpg.Connection, year: int | None) -> dict[str, dict[str, Decimal]]:
    """Per lot recovered in the year (every year: None), the kilograms of each material its recovery
    confirmed."""
    by_lot: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for row in await connection.fetch(RECOVERED_SQL, year):
        by_lot[row["lot_id"]][row["material"]] = row["mass_kg"]
    return dict(by_lot)
