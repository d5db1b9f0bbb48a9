"""Unclaimed deposits (contract 8.1, `deposits.released`): which deposits a release moves to the reserve.

Finance names a currency and a cut-off; every deposit still owed on a battery
sold in that currency before the cut-off moves from `liability:deposits` to
`reserve:unclaimed_deposits`. The battery stays in use: it may still come
back, and is then refunded in full from the reserve.

`releasable` is the rule; the adapter that finds the batteries
(`streams/adapters/releases.py`) says the same thing in SQL, and the tests
hold the two to each other.

A journal line holds at most MONEY_MINOR_UNITS_MAX (2^63-1, a bigint), and so
does each deposit; the deposits a release covers together need not.
`ReleaseParts` fills them, in serial order, into as few entries as keep each
within that bound: one entry for any release a bigint holds (almost all), more
only beyond it. Each battery is recorded with its part, so it stays traceable
to the entry that moved it, and the entries together move exactly what the
scheme released: the scheme and the ledger never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from contracts.types import MONEY_MINOR_UNITS_MAX
from streams.domain.battery import IN_USE, Battery
from streams.domain.errors import DuplicateRelease

DEPOSIT = "deposit"


@dataclass(frozen=True, slots=True)
class Release:
    release_id: str
    currency: str
    sold_before: datetime
    event_id: UUID
    occurred_at: datetime

    def covers(self, battery: Battery) -> bool:
        return releasable(battery, self.currency, self.sold_before)

    @staticmethod
    def check_new(release_id: str, event_id: UUID, recorded_by: UUID | None) -> None:
        """A release id is used once: by another event it is `duplicate_release`."""
        if recorded_by is not None and recorded_by != event_id:
            raise DuplicateRelease(
                f"data.release_id: release {release_id} was already made by event {recorded_by}"
            )


def releasable(battery: Battery, currency: str, sold_before: datetime) -> bool:
    """In use under a deposit, sold in `currency` before `sold_before`, a deposit charged and not released."""
    return (
        battery.state == IN_USE
        and battery.contract == DEPOSIT
        and battery.currency == currency
        and battery.sold_at is not None
        and battery.sold_at < sold_before
        and battery.deposit_charged > 0
        and not battery.deposit_released
    )


@dataclass
class ReleaseParts:
    """The totals of a release's entries, filled deposit by deposit: a new part when the next deposit would
    take the current one beyond `bound` (one journal line's)."""

    bound: int = MONEY_MINOR_UNITS_MAX
    totals: list[int] = field(default_factory=list)

    def add(self, deposit: int) -> int:
        """The part (1, 2, ...) whose entry moves this deposit."""
        if not 0 < deposit <= self.bound:
            raise ValueError(f"a released deposit is 1 to {self.bound} minor units, not {deposit}")
        if not self.totals or self.totals[-1] + deposit > self.bound:
            self.totals.append(0)
        self.totals[-1] += deposit
        return len(self.totals)
