"""Reconciliation checks as values: a name, whether it holds, what was expected, what was found, why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

DETAILS_LIST_MAX = 50  # named offenders shown per check, newest first; the count is always whole
BALANCED = "balanced"
DISCREPANCIES = "discrepancies"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    expected: Any
    actual: Any
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "expected": self.expected,
            "actual": self.actual,
            "details": self.details,
        }


def status_of(checks: Iterable[Check]) -> str:
    return BALANCED if all(check.ok for check in checks) else DISCREPANCIES


def offenders(rows: list[Any]) -> dict[str, Any]:
    """`{"count", "items"}`: all offenders counted, at most DETAILS_LIST_MAX shown."""
    return {"count": len(rows), "items": rows[:DETAILS_LIST_MAX]}


def money_check(
    name: str, expected: dict[str, int], ledger: dict[str, int], in_flight: dict[str, int], **details: Any
) -> Check:
    """Scheme's expectation per currency against ledger actual + postings still in flight."""
    actual = add(ledger, in_flight)
    return Check(
        name,
        differences(expected, actual) == {},
        sorted_money(expected),
        sorted_money(actual),
        {
            "ledger": sorted_money(ledger),
            "in_flight": sorted_money(in_flight),
            "difference": differences(expected, actual),
            **details,
        },
    )


def add(*amounts: dict[str, int]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for amount in amounts:
        for currency, value in amount.items():
            total[currency] += value
    return dict(total)


def differences(expected: dict[str, int], actual: dict[str, int]) -> dict[str, int]:
    """actual - expected per currency, only where they differ."""
    currencies = sorted(set(expected) | set(actual))
    gaps = {c: actual.get(c, 0) - expected.get(c, 0) for c in currencies}
    return {c: gap for c, gap in gaps.items() if gap != 0}


def sorted_money(amounts: dict[str, int]) -> dict[str, int]:
    return {currency: amounts[currency] for currency in sorted(amounts)}
