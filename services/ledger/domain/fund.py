"""Fund adequacy (issue 14 item 6): the recycling fund against everything it must still pay.

The fund must still pay to recycle every battery that is not yet recycled and
not lost: `in_use` (under deposit or lease), `collected`, `in_transit` and
`at_recycler`, orphans taken back included (they came back, so the scheme
recycles them at its cost). Not counted: `recycled` (its cost is posted, the fund
already paid it to the recycler's payable), `lost` (written off) and `cancelled`
(its sale was reversed; if it comes back it is `collected`, and counted).

It must also pay the handling fee each battery still `in_use` earns its centre
when collected (contract 8.1). The fee is that of the terms in force at the
collection, which is not known yet: the estimate takes the terms in force now
(a sku with no terms in force earns none, as the streams pay it). Batteries
already collected earned theirs at their collection; orphans earn none.

Recycling cost: mass x `RECYCLING_COST_MINOR_PER_KG[currency][chemistry]`, rounded
up. A battery sold here has its sale's mass and chemistry; an orphan has the
mass its collection logged (if any) and the `other` chemistry's rate. A battery
with no known mass is counted but costs nothing in the estimate, and the row
says how many (`batteries_without_mass`). Orphans have no currency (never sold
here): they are counted in the scheme's currency when it has exactly one, else
listed apart (`unattributed_orphans`) rather than guessed into one. A currency
with no cost table has no estimate (`status` `no_estimate`) and says why.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.ledger.domain.composition import RECYCLING_COST_MINOR_PER_KG, expected_recycling_cost

STATES_TO_RECYCLE = ("in_use", "collected", "in_transit", "at_recycler")
STATE_EARNING_HANDLING_FEE = "in_use"
MASS_QUANTUM = Decimal("0.001")


@dataclass(frozen=True)
class BatteryGroup:
    """Batteries of one currency (None: orphans), chemistry, state and sku, as the scheme holds them."""

    currency: str | None
    chemistry: str | None
    state: str
    sku: str | None
    batteries: int
    mass_kg: Decimal
    without_mass: int


def _orphans_currency(currencies: set[str]) -> str | None:
    return next(iter(currencies)) if len(currencies) == 1 else None


def adequacy(
    fund: dict[str, int], groups: list[BatteryGroup], fees: dict[tuple[str, str], int]
) -> dict[str, Any]:
    """The report's body but `as_of`: one row per currency, the orphans that could not be attributed.
    `fees` is the handling fee in force now per (sku, currency)."""
    currencies = set(fund) | {g.currency for g in groups if g.currency is not None}
    orphans_in = _orphans_currency(currencies)
    per_currency: dict[str, list[BatteryGroup]] = defaultdict(list)
    unattributed: list[BatteryGroup] = []
    for group in groups:
        currency = group.currency or orphans_in
        (per_currency[currency] if currency else unattributed).append(group)
    return {
        "currencies": [_row(c, fund.get(c, 0), per_currency.get(c, []), fees) for c in sorted(currencies)],
        "unattributed_orphans": _orphans(unattributed) if unattributed else None,
        "cost_table_minor_per_kg": RECYCLING_COST_MINOR_PER_KG,
    }


def _row(
    currency: str, fund_balance: int, groups: list[BatteryGroup], fees: dict[tuple[str, str], int]
) -> dict[str, Any]:
    by_chemistry = _by_chemistry(currency, groups)
    costs = [row["expected_cost"] for row in by_chemistry]
    recycling = None if currency not in RECYCLING_COST_MINOR_PER_KG else sum(costs)
    handling = sum(
        g.batteries * fees.get((g.sku or "", currency), 0)
        for g in groups
        if g.state == STATE_EARNING_HANDLING_FEE and g.currency is not None
    )
    expected = None if recycling is None else recycling + handling
    by_state = dict.fromkeys(STATES_TO_RECYCLE, 0)
    for group in groups:
        by_state[group.state] += group.batteries
    return {
        "currency": currency,
        "fund_balance": fund_balance,
        "recycling_cost": recycling,
        "handling_fees_due": handling,
        "expected_cost": expected,
        "status": _status(fund_balance, expected),
        "reason": None
        if expected is not None
        else (
            f"no recycling cost table for {currency} (tables exist for "
            f"{', '.join(sorted(RECYCLING_COST_MINOR_PER_KG))}): no estimate, no exchange rate guessed"
        ),
        "shortfall": None if expected is None else max(expected - fund_balance, 0),
        "surplus": None if expected is None else max(fund_balance - expected, 0),
        "batteries": sum(by_state.values()),
        "batteries_without_mass": sum(g.without_mass for g in groups),
        "orphans": sum(g.batteries for g in groups if g.currency is None),
        "by_state": by_state,
        "by_chemistry": by_chemistry,
    }


def _status(fund_balance: int, expected: int | None) -> str:
    if expected is None:
        return "no_estimate"
    return "adequate" if fund_balance >= expected else "short"


def _by_chemistry(currency: str, groups: list[BatteryGroup]) -> list[dict[str, Any]]:
    batteries: dict[str, int] = defaultdict(int)
    masses: dict[str, Decimal] = defaultdict(Decimal)
    for group in groups:
        batteries[group.chemistry or "other"] += group.batteries
        masses[group.chemistry or "other"] += group.mass_kg
    return [
        {
            "chemistry": chemistry,
            "batteries": batteries[chemistry],
            "mass_kg": str(masses[chemistry].quantize(MASS_QUANTUM)),
            "expected_cost": expected_recycling_cost(currency, chemistry, masses[chemistry]),
        }
        for chemistry in sorted(batteries)
    ]


def _orphans(groups: list[BatteryGroup]) -> dict[str, Any]:
    return {
        "batteries": sum(g.batteries for g in groups),
        "mass_kg": str(sum((g.mass_kg for g in groups), Decimal(0)).quantize(MASS_QUANTUM)),
        "batteries_without_mass": sum(g.without_mass for g in groups),
        "reason": "orphans have no currency and the scheme holds several: not guessed into one",
    }
