"""The parameters of the finance reads (contract 8.1), parsed alike by the gateway and the command line.

Settlement period: `from` and `to` are each a date (2026-11-01, the start of that
day in UTC) or an RFC 3339 instant with an offset; the period is [from, to), from
inclusive, to exclusive, and from must be before to.

Discrepancy list: which discrepancies, in which order, one bounded page at a time.

Newest first: by `opened_at`, then `discrepancy_id`, both descending, so a page
ends at a position no later discrepancy can take. The cursor is that position
(the last row's `opened_at` and `discrepancy_id`) in base64url text, opaque to
the caller: the next page starts strictly after it. A discrepancy opened while
a caller pages is on no page it has not read yet (it sorts first); one resolved
meanwhile may move between `status=open` and `status=resolved` pages.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

PERIOD_YEAR_MIN, PERIOD_YEAR_MAX = 1970, 2999

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
PERIOD_BOUND_RULE = (
    f"must be a date (2026-11-01, the start of that day in UTC) or an RFC 3339 instant with an "
    f"offset (2026-11-01T00:00:00+01:00), in the years {PERIOD_YEAR_MIN} to {PERIOD_YEAR_MAX}"
)


class InvalidPeriod(ValueError):
    """A period bound or a period that breaks its rule; `rule` names it."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule


def period_bound(text: str) -> datetime:
    """A date (its 00:00 UTC) or an RFC 3339 instant with an offset; nothing else."""
    if not isinstance(text, str):
        raise InvalidPeriod("period_bound", PERIOD_BOUND_RULE)
    try:
        if _DATE.fullmatch(text):
            bound = datetime.combine(date.fromisoformat(text), time(0), UTC)
        elif _INSTANT.fullmatch(text):
            bound = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        else:
            raise InvalidPeriod("period_bound", PERIOD_BOUND_RULE)
    except ValueError as error:
        if isinstance(error, InvalidPeriod):
            raise
        raise InvalidPeriod(
            "period_bound", "must be a real date and time (" + PERIOD_BOUND_RULE + ")"
        ) from None
    if not PERIOD_YEAR_MIN <= bound.astimezone(UTC).year <= PERIOD_YEAR_MAX:
        raise InvalidPeriod("period_bound", PERIOD_BOUND_RULE)
    return bound


@dataclass(frozen=True)
class Period:
    """[start, end): start inclusive, end exclusive, both timezone-aware."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        assert self.start.utcoffset() is not None, "a period's start is timezone-aware"
        assert self.end.utcoffset() is not None, "a period's end is timezone-aware"
        if self.start >= self.end:
            raise InvalidPeriod(
                "period_order",
                f"must be after from ({self.start.isoformat()}): a period is "
                f"[from, to), from inclusive, to exclusive",
            )


DISCREPANCY_KINDS = (
    "serial_already_in_market",
    "amount_differs_from_terms",
    "missing_in_transit",
    "unexpected_in_lot",
    "mass_mismatch",
    "overpayment",
)
STATUSES = ("open", "resolved")
PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX = 100, 1000
CURSOR_LENGTH_MAX = 200
_CURSOR = re.compile(rf"^[A-Za-z0-9_-]{{1,{CURSOR_LENGTH_MAX}}}$")
CURSOR_RULE = "must be the next_cursor of an earlier page of this list, unchanged"


class InvalidCursor(ValueError):
    """Not a cursor this list wrote."""


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last row's `opened_at` and `discrepancy_id`."""

    opened_at: datetime
    discrepancy_id: uuid.UUID

    def __post_init__(self) -> None:
        assert self.opened_at.utcoffset() is not None, "opened_at is timezone-aware"

    def cursor(self) -> str:
        text = f"{self.opened_at.isoformat()}|{self.discrepancy_id}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def of_cursor(cls, cursor: str) -> Position:
        if not isinstance(cursor, str) or not _CURSOR.fullmatch(cursor):
            raise InvalidCursor(CURSOR_RULE)
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            opened_text, id_text = text.split("|")
            opened_at, discrepancy_id = datetime.fromisoformat(opened_text), uuid.UUID(id_text)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidCursor(CURSOR_RULE) from None
        if opened_at.utcoffset() is None:
            raise InvalidCursor(CURSOR_RULE)
        position = cls(opened_at, discrepancy_id)
        if position.cursor() != cursor:
            raise InvalidCursor(CURSOR_RULE)  # one text per position: nothing a decoder would guess
        return position


@dataclass(frozen=True)
class ListQuery:
    """What a caller asked for: a status (open, resolved or both), a kind (or all), a page."""

    status: str | None = None
    kind: str | None = None
    limit: int = PAGE_LIMIT_DEFAULT
    after: Position | None = None

    def __post_init__(self) -> None:
        assert self.status is None or self.status in STATUSES, "status is checked at the edge"
        assert 1 <= self.limit <= PAGE_LIMIT_MAX, "limit is checked at the edge"
