"""Finance's terms: the deposit, recycling fee and handling fee of a product from a date on, per currency."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from contracts.data_in import REPURPOSE_MIN_PCT_DEFAULT, REUSE_MIN_PCT_DEFAULT


@dataclass(frozen=True, slots=True)
class Terms:
    sku: str
    currency: str
    effective_from: datetime
    deposit: int
    recycling_fee: int
    event_id: UUID
    handling_fee: int = 0  # contract 8.1: what a centre earns per collection of this sku
    reuse_min_pct: int = REUSE_MIN_PCT_DEFAULT  # contract 8.3: the state of health to be reused
    repurpose_min_pct: int = REPURPOSE_MIN_PCT_DEFAULT  # ... to be repurposed

    def charged_otherwise(self, contract: str, deposit: int, recycling_fee: int) -> bool:
        """A sale that charged other amounts than these terms (a lease charges no deposit)."""
        return recycling_fee != self.recycling_fee or (contract == "deposit" and deposit != self.deposit)

    def replaces(self, other: Terms) -> bool:
        """Terms published again for the same product, currency and date replace the earlier ones."""
        return (self.sku, self.currency, self.effective_from) == (
            other.sku,
            other.currency,
            other.effective_from,
        )


def in_force(published: Iterable[Terms], currency: str, at: datetime) -> Terms | None:
    """The latest terms in `currency` effective at `at`, if any."""
    candidates = [t for t in published if t.currency == currency and t.effective_from <= at]
    return max(candidates, key=lambda t: t.effective_from, default=None)
