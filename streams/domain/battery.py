"""A battery's life: its states and every allowed transition, in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from streams.domain.errors import AlreadyReturned, CustodyMismatch

NEW = None  # not yet known to the scheme
IN_USE, CANCELLED, COLLECTED = "in_use", "cancelled", "collected"
IN_TRANSIT, AT_RECYCLER, RECYCLED = "in_transit", "at_recycler", "recycled"
LOST = "lost"  # contract 8.1: a battery missing in transit, written off by finance
REPURPOSED = "repurposed"  # contract 8.3: given a second life by a second-life operator
STATES = (IN_USE, CANCELLED, COLLECTED, IN_TRANSIT, AT_RECYCLER, RECYCLED, LOST, REPURPOSED)
SECOND_LIFE = "second_life"  # the custody party kind of a second-life operator

# (state before, event type) -> state after. Nothing else is allowed.
TRANSITIONS: dict[tuple[str | None, str], str] = {
    (NEW, "sale.recorded"): IN_USE,
    (IN_USE, "sale.cancelled"): CANCELLED,
    (CANCELLED, "sale.recorded"): IN_USE,  # a cancelled serial sold again re-enters the market
    (IN_USE, "collection.logged"): COLLECTED,
    (CANCELLED, "collection.logged"): COLLECTED,  # a cancelled sale's battery comes back free
    (NEW, "collection.logged"): COLLECTED,  # an orphan or historic battery
    (COLLECTED, "lot.dispatched"): IN_TRANSIT,
    (IN_TRANSIT, "lot.received"): AT_RECYCLER,
    (AT_RECYCLER, "recovery.confirmed"): RECYCLED,
    (IN_TRANSIT, "discrepancy.resolved"): LOST,  # missing_in_transit written off
    (COLLECTED, "battery.repurposed"): REPURPOSED,  # by the second-life operator holding it (contract 8.3)
    (REPURPOSED, "collection.logged"): COLLECTED,  # its second life over: taken back free
}
RETURNED = (COLLECTED, IN_TRANSIT, AT_RECYCLER, RECYCLED, LOST)
# An orphan's history starts with its collection (seq 1): a sale that occurred before it, recorded after it
# (a late sale, contract 8.2), is placed before it, so the history in seq order is in occurred_at order.
LATE_SALE_SEQ = 0


@dataclass(frozen=True)
class Party:
    kind: str
    id: str


@dataclass(frozen=True)
class Transition:
    """One line of a battery's custody history."""

    serial: str
    seq: int
    at: datetime
    event_id: UUID
    event_type: str
    from_party: Party | None
    to_party: Party
    state: str


@dataclass
class Battery:
    serial: str
    state: str | None = NEW
    contract: str | None = None
    sku: str | None = None
    category: str | None = None
    chemistry: str | None = None
    mass_kg: Decimal | None = None
    currency: str | None = None
    deposit_charged: int = 0
    recycling_fee: int = 0
    deposit_refunded: int = 0
    sale_id: str | None = None
    store_id: str | None = None
    sold_at: datetime | None = None
    custodian: Party | None = None
    lot_id: str | None = None
    collected_at: datetime | None = None
    history_length: int = 0
    deposit_released: bool = False  # moved to reserve:unclaimed_deposits by deposits.released (8.1)
    new_history: list[Transition] = field(default_factory=list)

    def check_collectable(self) -> None:
        """Any battery may come back, once: not one already returned. A repurposed battery, collected after
        its second life, comes back once more (contract 8.3)."""
        if self.state in RETURNED:
            raise AlreadyReturned(f"battery {self.serial} is already {self.state}")

    @property
    def returned_as_orphan(self) -> bool:
        """Taken back while unknown to the scheme (its first line is its collection), sold by no sale since.

        Wherever it went after (a lot, the recycler, written off as lost): it was collected first.
        """
        return self.state is not NEW and self.sale_id is None

    def sold_before_return(self, to_party: Party, at: datetime, event_id: UUID) -> None:
        """A late sale: its line goes first in the history; the battery stays as returned, where it is."""
        assert self.returned_as_orphan, "only an orphan taken back is sold late"
        assert self.history_length >= 1, "an orphan taken back has its collection as its first line"
        self.new_history.append(
            Transition(self.serial, LATE_SALE_SEQ, at, event_id, "sale.recorded", None, to_party, IN_USE)
        )

    def can(self, event_type: str) -> bool:
        return (self.state, event_type) in TRANSITIONS

    def move(self, event_type: str, to_party: Party, at: datetime, event_id: UUID) -> None:
        """Take the transition `event_type` allows, or refuse; record it in the history."""
        after = TRANSITIONS.get((self.state, event_type))
        if after is None:
            raise AlreadyReturned(
                f"battery {self.serial} is {self.state or 'unknown'}: {event_type} is not allowed"
            )
        self._record(event_type, to_party, after, at, event_id)

    def repurpose(self, operator: Party, at: datetime, event_id: UUID) -> None:
        """Contract 8.3: only a collected battery in this operator's custody is repurposed, by it."""
        assert operator.kind == SECOND_LIFE, "a repurposing is a second-life operator's"
        if self.state != COLLECTED or self.custodian != operator:
            raise CustodyMismatch(
                f"battery {self.serial} is {self.state}, held by {_show(self.custodian)}: only a collected "
                f"battery in the custody of {_show(operator)} may be repurposed by it"
            )
        self._record("battery.repurposed", operator, REPURPOSED, at, event_id)

    def transfer(self, from_party: Party, to_party: Party, at: datetime, event_id: UUID) -> None:
        """A change of custodian, not of state."""
        if self.custodian != from_party:
            raise CustodyMismatch(
                f"battery {self.serial} is held by {_show(self.custodian)}, not by {_show(from_party)}"
            )
        assert self.state is not None, "a battery in the scheme has a state"
        self._record("custody.transferred", to_party, self.state, at, event_id)

    def _record(self, event_type: str, to_party: Party, state: str, at: datetime, event_id: UUID) -> None:
        self.history_length += 1
        self.new_history.append(
            Transition(
                self.serial, self.history_length, at, event_id, event_type, self.custodian, to_party, state
            )
        )
        self.custodian, self.state = to_party, state
        assert self.state in STATES


def _show(party: Party | None) -> str:
    return "nobody" if party is None else f"{party.kind}:{party.id}"
