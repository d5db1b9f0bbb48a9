"""What fund adequacy reads: the batteries the fund must still recycle, the terms in force (the fund's
balance: `balance_figures.net_credit`).

One scan of `scheme.batteries` grouped by currency, chemistry, state and sku; an
orphan's mass (not on its battery row) from the latest collection that logged one.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.ledger.domain.fund import STATES_TO_RECYCLE, BatteryGroup

BATTERIES_SQL = """
    SELECT b.currency, b.chemistry, b.state, b.sku, count(*) AS batteries,
           coalesce(sum(coalesce(b.mass_kg, c.mass_kg)), 0) AS mass_kg,
           count(*) FILTER (WHERE b.mass_kg IS NULL AND c.mass_kg IS NULL) AS without_mass
      FROM scheme.batteries b
      LEFT JOIN LATERAL (SELECT c.mass_kg FROM scheme.collections c
                          WHERE b.mass_kg IS NULL AND c.serial = b.serial AND c.mass_kg IS NOT NULL
                          ORDER BY c.occurred_at DESC LIMIT 1) AS c ON true
     WHERE b.state = ANY ($1::text[])
     GROUP BY 1, 2, 3, 4"""

HANDLING_FEES_SQL = """
    SELECT DISTINCT ON (sku, currency) sku, currency, handling_fee
      FROM scheme.terms WHERE effective_from <= $1
     ORDER BY sku, currency, effective_from DESC"""


async def battery_groups(connection: asyncpg.Connection) -> list[BatteryGroup]:
    rows = await connection.fetch(BATTERIES_SQL, list(STATES_TO_RECYCLE))
    return [
        BatteryGroup(
            r["currency"],
            r["chemistry"],
            r["state"],
            r["sku"],
            r["batteries"],
            r["mass_kg"],
            r["without_mass"],
        )
        for r in rows
    ]


async def handling_fees_in_force(connection: asyncpg.Connection, at: datetime) -> dict[tuple[str, str], int]:
    """The handling fee of the terms in force at `at`, per (sku, currency)."""
    return {
        (r["sku"], r["currency"]): r["handling_fee"] for r in await connection.fetch(HANDLING_FEES_SQL, at)
    }
