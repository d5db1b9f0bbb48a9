"""A lot of returned batteries from a centre to the recycler: dispatched, received, recovered."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from streams.domain.battery import COLLECTED, Battery, Party
from streams.domain.errors import (
    CustodyMismatch,
    DuplicateLot,
    LotAlreadyReceived,
    LotNotReceived,
    RecoveryAlreadyConfirmed,
    SourceMismatch,
    UnknownLot,
)

IN_TRANSIT, RECEIVED, RECOVERED = "in_transit", "received", "recovered"
MASS_TOLERANCE = Decimal("0.02")  # a lot's gross mass may differ by 2 % between dispatch and receipt
SERIALS_SHOWN_MAX = 50  # a refusal names at most this many serials, then says how many more


@dataclass(slots=True)
class LotItem:
    serial: str
    dispatched: bool
    received: bool = False


@dataclass(slots=True)
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

    @staticmethod
    def check_new(lot_id: str, dispatched: Lot | None) -> None:
        if dispatched is not None:
            raise DuplicateLot(f"lot {lot_id} was already dispatched")

    @staticmethod
    def check_dispatchable(centre: Party, serials: Iterable[str], batteries: Mapping[str, Battery]) -> None:
        """Every battery collected and held by the dispatching centre."""
        wrong = [
            s
            for s in serials
            if (b := batteries.get(s)) is None or b.state != COLLECTED or b.custodian != centre
        ]
        if wrong:
            shown = ", ".join(wrong[:SERIALS_SHOWN_MAX])
            more = f" and {len(wrong) - SERIALS_SHOWN_MAX} more" if len(wrong) > SERIALS_SHOWN_MAX else ""
            raise CustodyMismatch(f"not collected and in the custody of {centre.id}: {shown}{more}")

    def check_recycler(self, recycler_id: str) -> None:
        if self.recycler_id != recycler_id:
            raise SourceMismatch(f"data.recycler_id: lot {self.lot_id} was dispatched to {self.recycler_id}")

    def check_receivable(self, recycler_id: str) -> None:
        self.check_recycler(recycler_id)
        if self.status != IN_TRANSIT:
            raise LotAlreadyReceived(f"lot {self.lot_id} is already {self.status}")

    def check_recoverable(self, recycler_id: str) -> None:
        self.check_recycler(recycler_id)
        if self.status == IN_TRANSIT:
            raise LotNotReceived(f"lot {self.lot_id} has not been received")
        if self.status == RECOVERED:
            raise RecoveryAlreadyConfirmed(f"recovery of lot {self.lot_id} was already confirmed")

    def mass_differs(self, received_kg: Decimal) -> bool:
        return abs(received_kg - self.dispatched_mass_kg) > self.dispatched_mass_kg * MASS_TOLERANCE

    def receive(self, received_kg: Decimal, at: datetime) -> None:
        assert self.status == IN_TRANSIT, "checked by check_receivable"
        self.status, self.received_mass_kg, self.received_at = RECEIVED, received_kg, at

    def recover(self) -> None:
        assert self.status == RECEIVED, "checked by check_recoverable"
        self.status = RECOVERED


def lot_for(lots: Mapping[str, Lot], lot_id: str) -> Lot:
    lot = lots.get(lot_id)
    if lot is None:
        raise UnknownLot(f"lot {lot_id} was never dispatched")
    return lot
