"""Money for people: integer minor units shown in their currency's major unit (`12,500.00 EUR`).

The minor unit of each currency is ISO 4217's: two decimals unless listed here
(`JPY 1,250` has none, `KWD 1.250` has three). Amounts stay integers end to end;
this only places the decimal point for display.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, overload

MINOR_UNIT_DIGITS_DEFAULT = 2
MINOR_UNIT_DIGITS: dict[str, int] = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def minor_unit_digits(currency: str) -> int:
    return MINOR_UNIT_DIGITS.get(currency, MINOR_UNIT_DIGITS_DEFAULT)


def money_text(amount: int, currency: str) -> str:
    """`1250000, "EUR"` -> `12,500.00 EUR`; `-1250, "JPY"` -> `-1,250 JPY`; exact for any integer."""
    assert isinstance(amount, int) and not isinstance(amount, bool), "an amount is integer minor units"
    digits = minor_unit_digits(currency)
    major, minor = divmod(abs(amount), 10**digits)
    text = f"{major:,}" + (f".{minor:0{digits}d}" if digits else "")
    return f"{'-' if amount < 0 else ''}{text} {currency}"


@overload
def minor_units(total: Decimal | int) -> int: ...
@overload
def minor_units(total: None) -> None: ...
def minor_units(total: Decimal | int | None) -> int | None:
    """A total of amounts as PostgreSQL sums it (numeric, read as a `Decimal`: a sum of bigints does not fit
    one), as the integer of minor units it is, exactly at any size; None (a sum of no rows) stays None.

    Converted where it is read, so no total is ever a `Decimal` past the adapter: a `Decimal` would be shown
    as a mass, not JSON-encodable, and rounded by arithmetic beyond 28 digits."""
    if total is None or type(total) is int:
        return total
    if not isinstance(total, Decimal) or not total.is_finite() or total != total.to_integral_value():
        raise ValueError(f"a total of minor units is a whole number, not {total!r}")
    return int(total)


def rows_in_minor_units(rows: Iterable[Mapping[str, Any]], *names: str) -> list[dict[str, Any]]:
    """The rows as dicts, their columns `names` (totals of minor units) as integers (`minor_units`)."""
    return [{**row, **{name: minor_units(row[name]) for name in names}} for row in rows]
