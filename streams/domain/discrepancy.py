"""A discrepancy and how finance closes it (contract 8.1, `discrepancy.resolved`).

Each kind allows one resolution, with one effect:

| kind | resolution | effect |
|---|---|---|
| `serial_already_in_market` | `returned_to_store` | the held money leaves suspense, back to the store |
| `missing_in_transit` | `written_off` | the battery is `lost`; no money moves |
| `amount_differs_from_terms`, `mass_mismatch`, `unexpected_in_lot`, `overpayment` | `accepted` | closed |

A discrepancy is resolved once; its resolution is a row of its own, never an
edit of the discrepancy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from streams.domain.errors import AlreadyResolved, ResolutionNotAllowed, UnknownDiscrepancy

RETURNED_TO_STORE, WRITTEN_OFF, ACCEPTED = "returned_to_store", "written_off", "accepted"
RESOLUTIONS = (RETURNED_TO_STORE, WRITTEN_OFF, ACCEPTED)
SUSPENSE_RETURNED, BATTERY_LOST, CLOSED = "suspense_returned", "battery_lost", "closed"

# kind -> (the one resolution it allows, its effect)
ALLOWED: dict[str, tuple[str, str]] = {
    "serial_already_in_market": (RETURNED_TO_STORE, SUSPENSE_RETURNED),
    "missing_in_transit": (WRITTEN_OFF, BATTERY_LOST),
    "amount_differs_from_terms": (ACCEPTED, CLOSED),
    "mass_mismatch": (ACCEPTED, CLOSED),
    "unexpected_in_lot": (ACCEPTED, CLOSED),
    "overpayment": (ACCEPTED, CLOSED),
}


@dataclass(slots=True)
class Discrepancy:
    discrepancy_id: UUID
    kind: str
    subject: str
    details: dict[str, Any]
    caused_by: UUID
    resolution: str | None = None

    def check_resolvable(self, resolution: str) -> str:
        """The effect of resolving it so; refused if resolved already or not the one its kind allows."""
        if self.resolution is not None:
            raise AlreadyResolved(
                f"data.discrepancy_id: discrepancy {self.discrepancy_id} was already resolved "
                f"as {self.resolution}"
            )
        allowed = ALLOWED.get(self.kind)
        if allowed is None:
            raise ResolutionNotAllowed(f"data.resolution: a {self.kind} discrepancy has no resolution")
        if resolution != allowed[0]:
            raise ResolutionNotAllowed(
                f"data.resolution: a {self.kind} discrepancy may only be {allowed[0]}, not {resolution}"
            )
        return allowed[1]

    def resolve(self, resolution: str) -> str:
        effect = self.check_resolvable(resolution)
        self.resolution = resolution
        return effect

    @property
    def held_in_suspense(self) -> int:
        """What a `serial_already_in_market` holds in the store's suspense (the held item's deposit + fee)."""
        assert self.kind == "serial_already_in_market", "only a serial sold again holds money"
        return int(self.details["held_in_suspense"])


def discrepancy_for(known: dict[UUID, Discrepancy], discrepancy_id: str) -> Discrepancy:
    """The discrepancy the batch loaded under this id (a text on the wire: one that is no UUID names none)."""
    found = known.get(parse_id(discrepancy_id) or UUID(int=0))
    if found is None:
        raise UnknownDiscrepancy(f"data.discrepancy_id: no discrepancy {discrepancy_id} was opened")
    return found


def parse_id(discrepancy_id: str) -> UUID | None:
    try:
        return UUID(discrepancy_id)
    except ValueError:
        return None
