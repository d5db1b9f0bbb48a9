"""How the console writes figures: money with its currency, rates in percent, targets, instants."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services.common.money import minor_unit_digits, money_text

NOTHING = "—"
_CURRENCY = re.compile(r"[A-Z]{3}")


def exponent(currency: str) -> int:
    return minor_unit_digits(currency)


def money(minor: int | None, currency: str) -> str:
    """`1250000, "EUR"` -> `12,500.00 EUR` (services.common.money, as the command line writes it)."""
    return NOTHING if minor is None else money_text(int(minor), currency)


def percent(value: Any) -> str:
    """A rate the API gives as a decimal string ("51.25") -> `51.25 %`."""
    if value is None:
        return NOTHING
    try:
        return f"{Decimal(str(value)):,.2f} %"
    except InvalidOperation:
        return str(value)


def target(value: dict | None) -> str:
    """`{"percent": 63, "by_end_of": 2027, ...}` -> `63 % by end 2027`."""
    if not value:
        return NOTHING
    return f"{value['percent']} % by end {value['by_end_of']}"


def instant(value: Any) -> str:
    """An RFC 3339 instant, shortened to the minute in its own offset: `2026-11-24 10:15 +01:00`."""
    if value is None:
        return NOTHING
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    offset = parsed.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}" if offset else ""
    return f"{parsed:%Y-%m-%d %H:%M} {offset}".strip()


def count(value: Any) -> str:
    return NOTHING if value is None else f"{int(value):,}"


def figure(value: Any) -> str:
    """A check's expected or actual value: numbers grouped, mappings as `key: value`, never a Python repr."""
    if value is None:
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        if value and all(_CURRENCY.fullmatch(str(k)) and isinstance(v, int) for k, v in value.items()):
            return "; ".join(money(v, k) for k, v in value.items())  # amounts per currency, in minor units
        return "; ".join(f"{k}: {figure(v)}" for k, v in value.items()) or NOTHING
    if isinstance(value, list):
        return "; ".join(f"({figure(v)})" if isinstance(v, dict) else figure(v) for v in value) or NOTHING
    return str(value)


FILTERS = {
    "money": money,
    "percent": percent,
    "target": target,
    "instant": instant,
    "count": count,
    "figure": figure,
}
