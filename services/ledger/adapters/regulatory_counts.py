"""What the count-based regulatory reports read: batteries sold and collected per year and category (the
collection rate), and the lots recovered with their materials and the batteries received in them (material
recovery). Years are UTC calendar years.
"""

from __future__ import annotations

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
    SELECT m.material, sum(m.mass_kg)
      FROM scheme.recovered_materials m JOIN scheme.recoveries r USING (lot_id)
     WHERE {_IN_YEAR} GROUP BY 1"""
RECEIVED_SQL = f"""
    SELECT b.chemistry, count(*) AS batteries, sum(b.mass_kg) AS mass_kg
      FROM scheme.lot_items li JOIN scheme.recoveries r USING (lot_id)
      JOIN scheme.batteries b USING (serial)
     WHERE li.received AND {_IN_YEAR} GROUP BY 1"""
LOTS_SQL = f"""
    SELECT count(*) AS lots, coalesce(sum(input_mass_kg), 0) AS input_kg
      FROM scheme.recoveries r WHERE {_IN_YEAR}"""


async def sold(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """`year`, `category`, `n`: the sale items in the market, by the year of their sale."""
    return await connection.fetch(SOLD_SQL)


async def collected(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """`year`, `category` (`unknown` for an orphan), `n`: the collections, orphans included."""
    return await connection.fetch(COLLECTED_SQL)


async def recovered(connection: asyncpg.Connection, year: int | None) -> dict[str, Decimal]:
    """Kilograms recovered per material by the recoveries of the year (every year: None)."""
    return {row[0]: row[1] for row in await connection.fetch(RECOVERED_SQL, year)}


async def received(connection: asyncpg.Connection, year: int | None) -> list[asyncpg.Record]:
    """`chemistry`, `batteries`, `mass_kg` of the batteries received in the lots recovered in the year."""
    return await connection.fetch(RECEIVED_SQL, year)


async def lots(connection: asyncpg.Connection, year: int | None) -> asyncpg.Record:
    """`lots` recovered in the year and their `input_kg`."""
    return await connection.fetchrow(LOTS_SQL, year)
