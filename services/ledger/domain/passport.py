"""The battery passport: what the scheme knows of a battery, by the points of Annex XIII of Regulation (EU)
2023/1542 (contract 8.3). docs/REGULATION.md states which point each field serves.

Status (Annex XIII point 4: the battery's status) from the scheme's battery state:

| state | status | why |
|---|---|---|
| `in_use` | `original` | in its first use (a cancelled battery sold again is in its first use too) |
| `cancelled` | `original` | the sale was withdrawn: never used, never discarded |
| `repurposed` | `repurposed` | a second-life operator gave it a new use (`battery.repurposed`) |
| `collected` | `waste` | taken back and not (yet) repurposed, whatever its route |
| `in_transit`, `at_recycler` | `waste` | on its way to recycling |
| `recycled` | `waste` | recycled: the regulation ends the passport there; the scheme still answers |
| `lost` | `waste` | written off after it went missing in a lot, i.e. after it was collected |

A repurposed battery collected again is `collected`, so `waste` again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

PassportStatus = Literal["original", "repurposed", "waste"]
PASSPORT_STATUSES: tuple[PassportStatus, ...] = ("original", "repurposed", "waste")
STATUS_OF_STATE: dict[str, PassportStatus] = {
    "in_use": "original",
    "cancelled": "original",
    "repurposed": "repurposed",
    "collected": "waste",
    "in_transit": "waste",
    "at_recycler": "waste",
    "recycled": "waste",
    "lost": "waste",
}
MASS_QUANTUM = Decimal("0.001")  # kilograms with three decimals, as every report shows them


def passport_status(state: str) -> PassportStatus:
    assert state in STATUS_OF_STATE, f"battery state {state!r} has no passport status"
    return STATUS_OF_STATE[state]


@dataclass(frozen=True)
class Party:
    kind: str
    id: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id}


@dataclass(frozen=True)
class CustodyStep:
    """One line of `scheme.custody_history`, in seq order."""

    at: datetime
    event_id: UUID
    event_type: str
    from_: Party | None
    to: Party
    state: str


@dataclass(frozen=True)
class BatteryRecord:
    serial: str
    state: str
    category: str | None
    chemistry: str | None
    mass_kg: Decimal | None  # the sale item's, else the last collection's that gave one
    state_of_health_pct: int | None  # the last collection's that gave one
    custodian: Party
    history: tuple[CustodyStep, ...]


def custody_chain(lines: tuple[CustodyStep, ...]) -> list[dict[str, Any]]:
    """The chain as the battery body shows it: a line recorded with no `from` (an orphan's collection
    after a late sale) takes the previous line's `to`, so the chain has no gap."""
    chain, before = [], None
    for line in lines:
        previous = line.from_ or before
        chain.append(
            {
                "at": line.at.astimezone(UTC).isoformat(),
                "event_id": str(line.event_id),
                "event_type": line.event_type,
                "from": previous.as_dict() if previous else None,
                "to": line.to.as_dict(),
                "state": line.state,
            }
        )
        before = line.to
    return chain


def passport(record: BatteryRecord) -> dict[str, Any]:
    return {
        "serial": record.serial,
        "category": record.category,
        "chemistry": record.chemistry,
        "mass_kg": None if record.mass_kg is None else str(record.mass_kg.quantize(MASS_QUANTUM)),
        "status": passport_status(record.state),
        "state": record.state,
        "state_of_health_pct": record.state_of_health_pct,
        "custodian": record.custodian.as_dict(),
        "history": custody_chain(record.history),
    }
