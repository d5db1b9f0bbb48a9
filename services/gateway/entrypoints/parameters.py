"""Query and path parameters, parsed strictly: the text the contract allows, nothing a parser would guess.

- An instant is RFC 3339 with an offset (`2026-11-24T10:15:00+01:00`, `...Z`), in the
  years 1970 to 2999; `0.5`, `1700000000` or a naive time are 400 (rule `instant`).
- A year is four digits from `YEAR_MIN` to `YEAR_MAX`; `2026.0`, ` 2026` or `+2026` are 400 (rule `year`).
- A UUID is its canonical 8-4-4-4-12 text (rule `uuid`).
- A period bound (`from`, `to` of a settlement statement) is a date (`2026-11-01`, 00:00 UTC) or an instant
  as above (rule `period_bound`).
- A page's `limit` is 1 to 1000 in plain digits (rule `limit`); its `cursor` is a `next_cursor` given
  back unchanged (rule `cursor`).
- `Prefer: wait=N` (contract 8.2) is N whole seconds from 1 to 10 and nothing else (rule `prefer_wait`);
  an empty `Prefer` asks for nothing. `POST /v1/events` reads it with `parse_prefer_wait` and states its
  schema (`PREFER_WAIT_PATTERN`) itself.
Each type's JSON Schema (in the OpenAPI document) states the same rule.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from contracts.queries import (
    CURSOR_RULE,
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    PERIOD_BOUND_RULE,
    InvalidCursor,
    InvalidPeriod,
    Position,
    period_bound,
)
from contracts.types import as_uuid

INSTANT_YEAR_MIN, INSTANT_YEAR_MAX = 1970, 2999
YEAR_MIN, YEAR_MAX = 2000, 2100
_INSTANT_PATTERN = (
    r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
_INSTANT = re.compile(_INSTANT_PATTERN)
_YEAR = re.compile(r"^\d{4}$")
INSTANT_RULE = (
    f"must be an RFC 3339 instant with an offset, such as 2026-11-24T10:15:00+01:00, in the years "
    f"{INSTANT_YEAR_MIN} to {INSTANT_YEAR_MAX}"
)
YEAR_RULE = f"must be a year of four digits from {YEAR_MIN} to {YEAR_MAX}"


def _instant(value: Any) -> datetime:
    if not isinstance(value, str) or not _INSTANT.fullmatch(value):
        raise PydanticCustomError("instant", INSTANT_RULE)
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError:
        raise PydanticCustomError("instant", "must be a real date and time (" + INSTANT_RULE + ")") from None


def _year(value: Any) -> int:
    if not isinstance(value, str) or not _YEAR.fullmatch(value) or not YEAR_MIN <= int(value) <= YEAR_MAX:
        raise PydanticCustomError("year", YEAR_RULE)
    return int(value)


Instant = Annotated[
    datetime,
    BeforeValidator(_instant),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": _INSTANT_PATTERN}),
]
Year = Annotated[
    int, BeforeValidator(_year), WithJsonSchema({"type": "integer", "minimum": YEAR_MIN, "maximum": YEAR_MAX})
]
Uuid = Annotated[
    UUID,
    BeforeValidator(as_uuid),
    WithJsonSchema(
        {
            "type": "string",
            "format": "uuid",
            "pattern": "^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$",
        }
    ),
]

WAIT_S_MIN, WAIT_S_MAX = 1, 10
PREFER_WAIT_PATTERN = r"^(wait=([1-9]|10))?$"  # empty: no preference
_PREFER_WAIT = re.compile(PREFER_WAIT_PATTERN)
PREFER_WAIT_RULE = f"must be wait=N, N whole seconds from {WAIT_S_MIN} to {WAIT_S_MAX} (no other preference)"


def parse_prefer_wait(value: Any) -> int | None:
    match = _PREFER_WAIT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise PydanticCustomError("prefer_wait", PREFER_WAIT_RULE)
    return int(match.group(2)) if match.group(1) else None


def _period_bound(value: Any) -> datetime:
    try:
        return period_bound(value)
    except InvalidPeriod as error:
        raise PydanticCustomError(error.rule, str(error)) from None


# A date, or an instant as `Instant` states it (the pattern states the form; a real calendar day and the
# years in UTC are checked by `period_bound`).
_PERIOD_BOUND_PATTERN = (
    r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([Tt]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d))?$"
)
PeriodBound = Annotated[
    datetime,
    BeforeValidator(_period_bound),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _PERIOD_BOUND_PATTERN,
            "description": PERIOD_BOUND_RULE,
            "examples": ["2026-11-01", "2026-11-01T00:00:00+01:00"],
        }
    ),
]

_LIMIT = re.compile(r"^[1-9]\d{0,3}$")
LIMIT_RULE = f"must be a whole number from 1 to {PAGE_LIMIT_MAX}"


def _limit(value: Any) -> int:
    if not isinstance(value, str) or not _LIMIT.fullmatch(value) or int(value) > PAGE_LIMIT_MAX:
        raise PydanticCustomError("limit", LIMIT_RULE)
    return int(value)


def _cursor(value: Any) -> str:
    """The cursor's text, once it is known to decode to a position (`Position.of_cursor`)."""
    try:
        Position.of_cursor(value)
    except InvalidCursor:
        raise PydanticCustomError("cursor", CURSOR_RULE) from None
    return value


Limit = Annotated[
    int,
    BeforeValidator(_limit),
    WithJsonSchema(
        {"type": "integer", "minimum": 1, "maximum": PAGE_LIMIT_MAX, "default": PAGE_LIMIT_DEFAULT}
    ),
]
Cursor = Annotated[
    str,
    BeforeValidator(_cursor),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,200}$", "description": CURSOR_RULE}),
]
