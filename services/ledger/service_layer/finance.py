"""Finance reports: deposit liability by age, fund adequacy (settlement statements: `settlement.py`).

Each returns the JSON body the HTTP API serves and `takeback report ... --json` prints.
Money in integer minor units per currency; masses as decimal strings in kg.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import asyncpg

from contracts.accounts import FUND, LIABILITY
from services.ledger.adapters.balance_figures import net_credit
from services.ledger.adapters.clock import now
from services.ledger.adapters.fund_figures import battery_groups, handling_fees_in_force
from services.ledger.adapters.liability_figures import deposits_by_age
from services.ledger.domain.ageing import BUCKET_LABELS, age_bucket
from services.ledger.domain.fund import adequacy


async def liability_by_age(pool: asyncpg.Pool) -> dict[str, Any]:
    """Deposits of the batteries in use and not released (contract 8.1), by how long ago they were sold
    (batteries.sold_at): their total per currency is `liability:deposits`."""
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        as_of = await now(connection)
        rows = await deposits_by_age(connection, as_of)
        ledger = await net_credit(connection, LIABILITY)
    buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        bucket = buckets[(row["currency"], age_bucket(row["age_days"]))]
        bucket[0] += row["batteries"]
        bucket[1] += row["deposits"]
    currencies = sorted({row["currency"] for row in rows})
    return {
        "as_of": as_of.isoformat(),
        "buckets": [
            {
                "currency": c,
                "age": label,
                "batteries": buckets[(c, label)][0],
                "deposits": buckets[(c, label)][1],
            }
            for c in currencies
            for label in BUCKET_LABELS
        ],
        "totals": {c: sum(buckets[(c, label)][1] for label in BUCKET_LABELS) for c in currencies},
        "ledger_liability": ledger,
    }


async def fund_adequacy(pool: asyncpg.Pool) -> dict[str, Any]:
    """The recycling fund against the expected cost of every battery it must still recycle and the handling
    fees still to pay (rules: `services.ledger.domain.fund`)."""
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        as_of = await now(connection)
        groups = await battery_groups(connection)
        fees = await handling_fees_in_force(connection, as_of)
        fund = await net_credit(connection, FUND)
    return {"as_of": as_of.isoformat(), **adequacy(fund, groups, fees)}
