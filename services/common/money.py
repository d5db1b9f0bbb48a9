"""Money for people: integer minor units shown in their currency's major unit (`12,500.00 EUR`).

The minor unit of each currency is ISO 4217's: two decimals unless listed here
(`JPY 1,250` has none, `KWD 1.250` has three). Amounts stay integers end to end;
this only places the decimal point for display.
"""

from __future__ import annotations

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
