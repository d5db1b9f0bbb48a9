"""The slice of the scheme's records one batch reads and changes, held in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from services.common.outbox import OutboxMessage
from streams.adapters.rows import (
    CollectionRow,
    DiscrepancyRow,
    InboxRow,
    LateSaleRow,
    RecoveredMaterialRow,
    RecoveryRow,
    RefundRow,
    RepurposingRow,
    ResolutionRow,
)
from streams.domain import terms as terms_
from streams.domain.battery import Battery
from streams.domain.discrepancy import Discrepancy
from streams.domain.lot import Lot
from streams.domain.payment import Payment
from streams.domain.postings import Posting
from streams.domain.release import Release
from streams.domain.sale import Sale
from streams.domain.terms import Terms


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
    orphan_collections: dict[str, CollectionRow] = field(default_factory=dict)  # loaded, by serial
    late_sales: list[LateSaleRow] = field(default_factory=list)
    refunds: list[RefundRow] = field(default_factory=list)
    recoveries: list[RecoveryRow] = field(default_factory=list)
    recovered_materials: list[RecoveredMaterialRow] = field(default_factory=list)
    discrepancies: list[DiscrepancyRow] = field(default_factory=list)
    postings: list[Posting] = field(default_factory=list)
    outbox: list[OutboxMessage] = field(default_factory=list)
    inbox: list[InboxRow] = field(default_factory=list)
    # Contract 8.1, payments: who recorded each payment id of the batch; the payments it adds; the
    # debit - credit of each counterparty account a payment settles, as the scheme had posted it before
    # the batch.
    payments_recorded: dict[str, UUID] = field(default_factory=dict)
    new_payments: list[Payment] = field(default_factory=list)
    counterparty_balances: dict[tuple[str, str], int] = field(default_factory=dict)
    # The discrepancies the batch resolves, as loaded, and those it opens (resolvable in the same batch).
    known_discrepancies: dict[UUID, Discrepancy] = field(default_factory=dict)
    resolutions: list[ResolutionRow] = field(default_factory=list)
    release_owners: dict[str, UUID] = field(default_factory=dict)  # release_id -> the event that made it
    new_releases: list[Release] = field(default_factory=list)
    repurposings: list[RepurposingRow] = field(default_factory=list)  # contract 8.3

    def battery(self, serial: str) -> Battery:
        """The battery, created as NEW (unknown to the scheme) if absent."""
        found = self.batteries.get(serial)
        if found is None:
            found = self.batteries[serial] = Battery(serial)
        return found

    def known(self, serial: str) -> Battery | None:
        found = self.batteries.get(serial)
        return found if found is not None and found.state is not None else None

    def collection_of_orphan(self, serial: str) -> CollectionRow | None:
        """The collection that took this battery back while the scheme did not know it, if it was so taken."""
        battery = self.batteries.get(serial)
        if battery is None or not battery.returned_as_orphan:
            return None
        # Its first collection: one that took it back after a second life (contract 8.3) was free of charge
        # anyway, its deposit settled (or not) at that first one.
        loaded = self.orphan_collections.get(serial)
        found = [row for row in self.collections if row.serial == serial] + ([loaded] if loaded else [])
        return min(found, key=lambda row: row.occurred_at, default=None)

    def counterparty_debit_net(self, account: str, currency: str) -> int:
        """The account's debit - credit now: as loaded (`counterparty_balances`), plus this batch's
        postings."""
        net = self.counterparty_balances.get((account, currency), 0)
        for posting in self.postings:
            for line in posting.lines:
                if line.account == account and line.currency == currency:
                    net += line.debit - line.credit
        return net

    def terms_in_force(self, sku: str, currency: str, at: datetime) -> Terms | None:
        return terms_.in_force(self.terms.get(sku, ()), currency, at)
