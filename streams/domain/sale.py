"""A sale and its items: what a cancellation may take back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from streams.domain.battery import IN_USE, Battery
from streams.domain.errors import AlreadyReturned, DuplicateSale, SerialNotInSale, SourceMismatch

IN_MARKET, SUSPENSE, CANCELLED = "in_market", "suspense", "cancelled"
RETURNED_TO_STORE = "returned_to_store"  # held in suspense, then given back by finance (contract 8.1)


@dataclass(slots=True)
class SaleItem:
    serial: str
    sku: str
    category: str
    chemistry: str
    mass_kg: Decimal
    deposit: int
    recycling_fee: int
    contract: str
    status: str  # in_market | suspense (the serial was already in the market) | cancelled | returned_to_store


@dataclass(slots=True)
class Sale:
    sale_id: str
    store_id: str
    currency: str
    occurred_at: datetime
    event_id: UUID
    items: dict[str, SaleItem]
    country: str | None = None  # contract 8.3: where it placed its batteries on the market

    @staticmethod
    def check_new(sale_id: str, recorded: Sale | None) -> None:
        if recorded is not None:
            raise DuplicateSale(f"sale {sale_id} was already recorded by event {recorded.event_id}")

    def check_cancellable(
        self, store_id: str, serials: Iterable[str], batteries: Mapping[str, Battery]
    ) -> None:
        """By the store that sold them; serials of this sale, each still in use or held in suspense."""
        if self.store_id != store_id:
            raise SourceMismatch(f"data.store_id: sale {self.sale_id} was recorded by store {self.store_id}")
        missing = [s for s in serials if s not in self.items]
        if missing:
            raise SerialNotInSale(f"not in sale {self.sale_id}: {', '.join(missing)}")
        gone = [
            s
            for s in serials
            if self.items[s].status in (CANCELLED, RETURNED_TO_STORE)
            or (self.items[s].status == IN_MARKET and batteries[s].state != IN_USE)
        ]
        if gone:
            raise AlreadyReturned(
                f"no longer in use, already cancelled or returned to the store: {', '.join(gone)}"
            )

    def cancel(self, serial: str) -> SaleItem:
        item = self.items[serial]
        assert item.status != CANCELLED, "checked by check_cancellable"
        item.status = CANCELLED
        return item
