"""The slice of the scheme's records one batch reads and changes, held in memory."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from services.common.outbox import OutboxMessage
from streams.adapters.rows import (
    CollectionRow, DiscrepancyRow, InboxRow, RecoveredMaterialRow, RecoveryRow, RefundRow,
)
from streams.domain.battery import Battery
from streams.domain.postings import Posting


@dataclass
class SaleItem:
    serial: str
    sku: str
    category: str
    chemistry: str
    mass_kg: Decimal
    deposit: int
    recycling_fee: int
    contract: str
    status: str  # in_market | suspense | cancelled


@dataclass
class Sale:
    sale_id: str
    store_id: str
    currency: str
    occurred_at: datetime
    event_id: UUID
    items: dict[str, SaleItem]


@dataclass
class LotItem:
    serial: str
    dispatched: bool
    received: bool = False


@dataclass
class Lot:
    lot_id: str
    centre_id: str
    recycler_id: str
    status: str  # in_transit | received | recovered
    dispatched_mass_kg: Decimal
    dispatched_at: datetime
    received_mass_kg: Decimal | None = None
    received_at: datetime | None = None
    items: dict[str, LotItem] = field(default_factory=dict)


@dataclass(frozen=True)
class Terms:
    sku: str
    currency: str
    effective_from: datetime
    deposit: int
    recycling_fee: int
    event_id: UUID


@dataclass
class BatchState:
    """What was loaded (with row locks) and what the batch adds or changes."""
    batteries: dict[str, Battery] = field(default_factory=dict)
    sales: dict[str, Sale] = field(default_factory=dict)
    lots: dict[str, Lot] = field(default_factory=dict)
    terms: dict[str, list[Terms]] = field(default_factory=dict)
    changed_batteries: set[str] = field(default_factory=set)
    changed_sales: set[str] = field(default_factory=set)
    changed_lots: set[str] = field(default_factory=set)
    changed_sale_items: set[tuple[str, str]] = field(default_factory=set)  # (sale_id, serial)
    changed_lot_items: set[tuple[str, str]] = field(default_factory=set)  # (lot_id, serial)
    new_terms: list[Terms] = field(default_factory=list)
    collections: list[CollectionRow] = field(default_factory=list)
    refunds: list[RefundRow] = field(default_factory=list)
    recoveries: list[RecoveryRow] = field(default_factory=list)
    recovered_materials: list[RecoveredMaterialRow] = field(default_factory=list)
    discrepancies: list[DiscrepancyRow] = field(default_factory=list)
    postings: list[Posting] = field(default_factory=list)
    outbox: list[OutboxMessage] = field(default_factory=list)
    inbox: list[InboxRow] = field(default_factory=list)

    def battery(self, serial: str) -> Battery:
        """The battery, created as NEW (unknown to the scheme) if absent."""
        found = self.batteries.get(serial)
        if found is None:
            found = self.batteries[serial] = Battery(serial)
        return found

    def known(self, serial: str) -> Battery | None:
        found = self.batteries.get(serial)
        return found if found is not None and found.state is not None else None

    def terms_in_force(self, sku: str, currency: str, at: datetime) -> Terms | None:
        candidates = [t for t in self.terms.get(sku, ()) if t.currency == currency and t.effective_from <= at]
        return max(candidates, key=lambda t: t.effective_from, default=None)
