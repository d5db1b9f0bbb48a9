"""What the deposit liability by age reads: the deposits of the batteries in use, by days since their sale."""

from __future__ import annotations

from datetime import datetime

import asyncpg

AGES_SQL = """
    SELECT currency,
           greatest(0, floor(extract(epoch FROM ($1::timestamptz - sold_at)) / 86400))::int AS age_days,
           count(*) AS batteries, sum(deposit_charged)::bigint AS deposits
      FROM scheme.batteries WHERE state = 'in_use' AND contract = 'deposit' GROUP BY 1, 2"""


async def deposits_by_age(connection: asyncpg.Connection, as_of: datetime) -> list[asyncpg.Record]:
    """`currency`, `age_days` (whole days from sale to `as_of`), `batteries`, `deposits` per currency and
    age."""
    return await connection.fetch(AGES_SQL, as_of)
