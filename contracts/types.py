"""Scalar wire types of the contract (section 2), each failing with a named rule.

JSON gives these types plain strings and numbers; each validator accepts exactly
what the contract allows and nothing pydantic would otherwise coerce. Python
producers may also pass the parsed form (`UUID`, aware `datetime`, `Decimal`).
"""

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

IDENTIFIER_LENGTH_MAX = 64
MONEY_MINOR_UNITS_MAX = 2**63 - 1  # fits a PostgreSQL bigint
ACCOUNT_LENGTH_MAX = 200
TEXT_LENGTH_MAX = 1000

_IDENTIFIER = re.compile(rf"[A-Za-z0-9._:-]{{1,{IDENTIFIER_LENGTH_MAX}}}")
IDENTIFIER_PATTERN = _IDENTIFIER  # sources, stores, centres, lots, sales, skus, serials
_ACCOUNT = re.compile(rf"[A-Za-z0-9._:-]{{1,{ACCOUNT_LENGTH_MAX}}}")
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")  # ISO 3166-1 alpha-2 (contract 8.3)
PERCENT_MAX = 100
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")


def _text_rule(rule: str, message: str, pattern: re.Pattern[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise PydanticCustomError(rule, message)
        return value

    return check


def _money(value: Any) -> int:
    if type(value) is not int:  # rejects bool, float (even 50.0) and strings
        raise PydanticCustomError("money", "must be an integer number of minor units")
    if not 0 <= value <= MONEY_MINOR_UNITS_MAX:
        raise PydanticCustomError("money", "must be >= 0 and fit in 64 bits")
    return value


def _percent(value: Any) -> int:
    if type(value) is not int:  # rejects bool, float (even 80.0) and strings
        raise PydanticCustomError("percent", "must be an integer from 0 to 100")
    if not 0 <= value <= PERCENT_MAX:
        raise PydanticCustomError("percent", "must be an integer from 0 to 100")
    return value


def _mass(value: Any) -> Decimal:
    if type(value) not in (int, float, Decimal):
        raise PydanticCustomError("mass", "must be a JSON number of kilograms > 0")
    mass = Decimal(str(value)) if type(value) is float else Decimal(value)
    if not mass.is_finite() or mass <= 0:
        raise PydanticCustomError("mass", "must be a JSON number of kilograms > 0")
    return mass


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise PydanticCustomError("timestamp", "must be an RFC 3339 timestamp with an offset")
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError:
        raise PydanticCustomError("timestamp", "must be a real date and time") from None


def _date(value: Any) -> date:
    if type(value) is date:
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise PydanticCustomError("date", "must be a calendar date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date", "must be a real calendar date") from None


def as_uuid(value: Any) -> UUID:
    """A UUID from its canonical 8-4-4-4-12 text form (or a UUID)."""
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise PydanticCustomError("uuid", "must be a UUID like 2b7c1f0e-5d0a-4b53-9a8e-3c1f2d9e8a11")
    return UUID(value)


def _version(value: Any) -> int:
    if type(value) is not int or value != 1:
        raise PydanticCustomError("version", "must be the integer 1")
    return value


def _opaque(limit: int) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not 1 <= len(value) <= limit:
            raise PydanticCustomError("text", f"must be a string of 1 to {limit} characters")
        return value

    return check


def _text_type(rule: str, message: str, pattern: re.Pattern[str]) -> Any:
    """A string type checked by one regex; its JSON Schema pattern is the same regex."""
    return Annotated[
        str,
        BeforeValidator(_text_rule(rule, message, pattern)),
        WithJsonSchema({"type": "string", "pattern": f"^{pattern.pattern}$"}),
    ]


Identifier = _text_type("identifier", "must be 1 to 64 characters of A-Z a-z 0-9 . _ : -", _IDENTIFIER)
Account = _text_type("account", "must be 1 to 200 characters of A-Z a-z 0-9 . _ : -", _ACCOUNT)
Code = _text_type("code", "must be a snake_case code of 1 to 64 characters", _CODE)
Currency = _text_type("currency", "must be an ISO 4217 code of three capital letters", _CURRENCY)
Country = _text_type("country", "must be an ISO 3166-1 alpha-2 code of two capital letters", _COUNTRY)
OpaqueRef = Annotated[
    str,
    BeforeValidator(_opaque(IDENTIFIER_LENGTH_MAX)),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": IDENTIFIER_LENGTH_MAX}),
]
Text = Annotated[
    str,
    BeforeValidator(_opaque(TEXT_LENGTH_MAX)),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": TEXT_LENGTH_MAX}),
]
Money = Annotated[
    int,
    BeforeValidator(_money),
    WithJsonSchema(
        {
            "type": "integer",
            "minimum": 0,
            "maximum": MONEY_MINOR_UNITS_MAX,
            "description": "integer minor units; a float such as 50.0 is rejected",
        }
    ),
]
Percent = Annotated[
    int,
    BeforeValidator(_percent),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": PERCENT_MAX, "description": "percent"}),
]
Mass = Annotated[
    Decimal,
    BeforeValidator(_mass),
    PlainSerializer(float, return_type=float, when_used="json"),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "description": "kilograms"}),
]
Timestamp = Annotated[
    datetime,
    BeforeValidator(_timestamp),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": "^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?([Zz]|[+-]\\d{2}:\\d{2})$",
        }
    ),
]
Date = Annotated[
    date,
    BeforeValidator(_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"}),
]
EventId = Annotated[UUID, BeforeValidator(as_uuid), WithJsonSchema({"type": "string", "format": "uuid"})]
Version = Annotated[int, BeforeValidator(_version), WithJsonSchema({"const": 1, "type": "integer"})]
