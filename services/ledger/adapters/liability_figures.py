"""What the deposit liability by age reads: the deposits of the batteries in use, by days since their sale.

A deposit released as unclaimed (contract 8.1) has left `liability:deposits` for the reserve: not counted."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.common.money import rows_in_minor_units

AGES_SQL = """
    SELECT currency,
           greatest(0, floor(extract(epoch FROM ($1::timestamptz - sold_at)) / 86400))::int AS age_days,
           count(*) AS batteries, sum(deposit_charged) AS deposits
      FROM scheme.batteries
     WHERE state = 'in_use' AND contract = 'deposit' AND NOT deposit_released
     GROUP BY 1, 2"""


async def deposits_by_age(connection: asyncpg.Connection, as_of: datetime) -> list[dict]:
    """`currency`, `age_days` (whole days from sale to `as_of`), `batteries`, `deposits` (a numeric sum, read
    as an integer) per currency and age."""
    return rows_in_minor_units(await connection.fetch(AGES_SQL, as_of), "deposits")
