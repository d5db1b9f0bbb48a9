"""Finance reports: settlement per store and centre, deposit liability by age, fund adequacy.

Each returns the JSON body the HTTP API serves and `takeback report ... --json` prints.
Money in integer minor units per currency; masses as decimal strings in kg.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import asyncpg

from services.ledger.domain.ageing import BUCKET_LABELS, age_bucket
from services.ledger.domain.composition import RECYCLING_COST_MINOR_PER_KG, expected_recycling_cost
from services.ledger.service_layer.reconciliation.money_checks import CENTRE_CLEARING, FUND, LIABILITY, STORE_CLEARING
from services.ledger.service_layer.reconciliation.snapshot import take_snapshot
from services.ledger.service_layer.rows import decimal_text

SUSPENSE = "suspense:store:"


async def settlement(pool: asyncpg.Pool) -> dict[str, Any]:
    """What each store owes the scheme and what the scheme owes each centre, per the ledger."""
    async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read", readonly=True):
        snapshot = await take_snapshot(connection)
        items = {(r[0], r[1]): (r[2], r[3]) for r in await connection.fetch("""
            SELECT s.store_id, s.currency, count(*), sum(i.deposit + i.recycling_fee)::bigint
              FROM scheme.sale_items i JOIN scheme.sales s USING (sale_id)
             WHERE i.status <> 'cancelled' GROUP BY 1, 2""")}
        refunds = {(r[0], r[1]): (r[2], r[3]) for r in await connection.fetch(
            "SELECT centre_id, currency, count(*), sum(amount)::bigint FROM scheme.refunds GROUP BY 1, 2")}
    owed_by = {k: -v for k, v in snapshot.credit_net_by_party(STORE_CLEARING).items()}
    suspense = snapshot.credit_net_by_party(SUSPENSE)
    owed_to = snapshot.credit_net_by_party(CENTRE_CLEARING)
    stores = [{"store_id": s, "currency": c, "owed_by_store": owed_by.get((s, c), 0),
               "in_suspense": suspense.get((s, c), 0), "items_sold": items.get((s, c), (0, 0))[0],
               "expected_from_sales": items.get((s, c), (0, 0))[1]}
              for s, c in sorted(set(owed_by) | set(items) | set(suspense))]
    centres = [{"centre_id": p, "currency": c, "owed_to_centre": owed_to.get((p, c), 0),
                "refunds": refunds.get((p, c), (0, 0))[0], "refunds_paid": refunds.get((p, c), (0, 0))[1]}
               for p, c in sorted(set(owed_to) | set(refunds))]
    return {"as_of": snapshot.as_of.isoformat(), "stores": stores, "centres": centres}


async def liability_by_age(pool: asyncpg.Pool) -> dict[str, Any]:
    """Deposits of the batteries in use, by how long ago they were sold (batteries.sold_at)."""
    async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read", readonly=True):
        as_of = await connection.fetchval("SELECT now()")
        rows = await connection.fetch("""
            SELECT currency,
                   greatest(0, floor(extract(epoch FROM ($1::timestamptz - sold_at)) / 86400))::int AS age_days,
                   count(*) AS batteries, sum(deposit_charged)::bigint AS deposits
              FROM scheme.batteries WHERE state = 'in_use' AND contract = 'deposit' GROUP BY 1, 2""", as_of)
        ledger = await connection.fetch(
            "SELECT currency, (sum(credit) - sum(debit))::bigint FROM ledger.account_movements WHERE account = $1 "
            "GROUP BY currency", LIABILITY)
    buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        bucket = buckets[(row["currency"], age_bucket(row["age_days"]))]
        bucket[0] += row["batteries"]
        bucket[1] += row["deposits"]
    currencies = sorted({row["currency"] for row in rows})
    return {
        "as_of": as_of.isoformat(),
        "buckets": [{"currency": c, "age": label, "batteries": buckets[(c, label)][0],
                     "deposits": buckets[(c, label)][1]} for c in currencies for label in BUCKET_LABELS],
        "totals": {c: sum(buckets[(c, label)][1] for label in BUCKET_LABELS) for c in currencies},
        "ledger_liability": {row[0]: row[1] for row in ledger},
    }


async def fund_adequacy(pool: asyncpg.Pool) -> dict[str, Any]:
    """The recycling fund against the expected cost of recycling every battery still in the market (in_use)."""
    async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read", readonly=True):
        as_of = await connection.fetchval("SELECT now()")
        rows = await connection.fetch("""
            SELECT currency, chemistry, count(*) AS batteries, coalesce(sum(mass_kg), 0) AS mass_kg
              FROM scheme.batteries WHERE state = 'in_use' AND currency IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2""")
        fund = {r[0]: r[1] for r in await connection.fetch(
            "SELECT currency, (sum(credit) - sum(debit))::bigint FROM ledger.account_movements WHERE account = $1 "
            "GROUP BY currency", FUND)}
    per_currency: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        cost = expected_recycling_cost(row["currency"], row["chemistry"], Decimal(row["mass_kg"]))
        per_currency[row["currency"]].append({"chemistry": row["chemistry"], "batteries": row["batteries"],
                                              "mass_kg": decimal_text(row["mass_kg"]), "expected_cost": cost})
    return {"as_of": as_of.isoformat(), "currencies": [
        _adequacy(currency, fund.get(currency, 0), per_currency.get(currency, []))
        for currency in sorted(set(fund) | set(per_currency))],
        "cost_table_minor_per_kg": RECYCLING_COST_MINOR_PER_KG}


def _adequacy(currency: str, fund_balance: int, chemistries: list[dict]) -> dict[str, Any]:
    costs = [row["expected_cost"] for row in chemistries]
    expected = None if None in costs else sum(costs)
    verdict = "no_estimate" if expected is None else ("adequate" if fund_balance >= expected else "short")
    return {"currency": currency, "fund_balance": fund_balance, "expected_cost": expected, "status": verdict,
            "shortfall": max(expected - fund_balance, 0) if expected is not None else None,
            "surplus": max(fund_balance - expected, 0) if expected is not None else None,
            "batteries": sum(row["batteries"] for row in chemistries), "by_chemistry": chemistries}
