"""The sums of the two tables the scheme updates in place (batteries, sale items), as totals a run carries.

Each total is kept with the number of rows counted in it, so a total of rows that are all gone is told from
a total of rows worth nothing: a full run's sum has a currency (or a store) only while a row counts in it,
and so do the totals carried forward, run after run, by adding each window's changes (revision 0023).

- Batteries, per currency: (batteries, in use under a deposit and not released, their deposits, released,
  their deposits, the refunds of those).
- Sale items, per store and currency: (items neither cancelled nor returned to the store, their deposits and
  fees, items in the market, their fees).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

BatteryTotals = dict[str | None, tuple[int, int, int, int, int, int]]
SaleItemTotals = dict[tuple[str, str], tuple[int, int, int, int]]


def battery_totals(rows: Iterable[Iterable[Any]]) -> BatteryTotals:
    """From rows `[currency, batteries, in use, liability, released, deposits released, refunded of
    released]` (a full run's sums, a window's changes, or carried JSON); currencies with no row left out."""
    return _totals(rows, 1)  # type: ignore[return-value]


def sale_item_totals(rows: Iterable[Iterable[Any]]) -> SaleItemTotals:
    """From rows `[store id, currency, owed items, owed, items in the market, their fees]`."""
    return _totals(rows, 2)  # type: ignore[return-value]


def add(left: dict[Any, tuple[int, ...]], right: dict[Any, tuple[int, ...]]) -> dict[Any, tuple[int, ...]]:
    """Totals plus changes, key by key; a key whose counts and sums are all zero is left out."""
    zero = (0,) * len(next(iter({**left, **right}.values()), ()))
    summed = {
        key: tuple(a + b for a, b in zip(left.get(key, zero), right.get(key, zero), strict=True))
        for key in set(left) | set(right)
    }
    return {key: value for key, value in summed.items() if any(value)}


def battery_json(totals: BatteryTotals) -> list[list[Any]]:
    return [[currency, *values] for currency, values in sorted(totals.items(), key=_currency_order)]


def sale_item_json(totals: SaleItemTotals) -> list[list[Any]]:
    return [[store, currency, *values] for (store, currency), values in sorted(totals.items())]


def batteries(totals: BatteryTotals) -> int:
    return sum(values[0] for values in totals.values())


def liability(totals: BatteryTotals) -> dict[str, int]:
    """Deposits of the batteries in use under a deposit, not released, per currency."""
    return {c: v[2] for c, v in totals.items() if v[1]}  # type: ignore[misc]


def released(totals: BatteryTotals) -> tuple[dict[str, int], dict[str, int]]:
    """Deposits released, and the refunds of released batteries, per currency."""
    return (
        {c: v[4] for c, v in totals.items() if v[3]},  # type: ignore[misc]
        {c: v[5] for c, v in totals.items() if v[3]},  # type: ignore[misc]
    )


def owed(totals: SaleItemTotals) -> dict[tuple[str, str], int]:
    """(store id, currency) -> deposits + fees of its items neither cancelled nor returned to it."""
    return {key: v[1] for key, v in totals.items() if v[0]}


def fees_in_market(totals: SaleItemTotals) -> dict[str, int]:
    """Recycling fees of the items in the market, per currency."""
    fees: dict[str, int] = {}
    for (_, currency), v in totals.items():
        if v[2]:
            fees[currency] = fees.get(currency, 0) + v[3]
    return fees


def _totals(rows: Iterable[Iterable[Any]], key_width: int) -> dict[Any, tuple[int, ...]]:
    totals: dict[Any, tuple[int, ...]] = {}
    for row in rows:
        values = list(row)
        key = values[0] if key_width == 1 else tuple(values[:key_width])
        amounts = [int(v or 0) for v in values[key_width:]]  # a sum over no row is NULL
        totals[key] = tuple(a + b for a, b in zip(totals.get(key, (0,) * len(amounts)), amounts, strict=True))
    return {key: value for key, value in totals.items() if any(value)}


def _currency_order(item: tuple[Any, Any]) -> tuple[bool, str]:
    return (item[0] is not None, item[0] or "")
