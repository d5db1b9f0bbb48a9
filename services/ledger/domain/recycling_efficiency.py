"""Recycling efficiency per chemistry group, against Annex XII Part B of Regulation (EU) 2023/1542
(contract 8.3).

The efficiency of a group is the output mass over the input mass of the lots recovered in the
period, each lot's masses shared among the groups of the batteries received in it:

- A lot's share for a group is the sale mass of its received batteries of that group over the
  sale mass of all its received batteries. A battery whose mass the scheme does not know (an
  orphan taken back without a mass) weighs nothing in the share; a lot where no received battery
  has a known mass is shared by the number of batteries instead.
- A battery's group is its chemistry's (`regulation.chemistry_group`); an orphan's unknown
  chemistry is `other`.
- A lot confirmed without `output_mass_kg` is left out of both input and output (it is never read
  as 0 % efficient) and counted in `lots_without_output_mass`; a lot with no received battery
  cannot be shared and is counted in `lots_without_batteries`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from services.ledger.domain.regulation import (
    CHEMISTRY_GROUPS,
    RECYCLING_EFFICIENCY_TARGETS,
    Target,
    chemistry_group,
    meets,
    next_target,
    rate_percent,
    target_in_force,
)

ZERO = Decimal(0)


@dataclass(frozen=True)
class ReceivedBatteries:
    """The batteries of one chemistry received in a lot: how many, and their known sale mass."""

    chemistry: str | None
    batteries: int
    mass_kg: Decimal  # of those with a known mass
    without_mass: int


@dataclass(frozen=True)
class RecoveredLot:
    lot_id: str
    input_mass_kg: Decimal
    output_mass_kg: Decimal | None
    received: tuple[ReceivedBatteries, ...]


@dataclass
class GroupRow:
    group: str
    lots: int = 0
    batteries: int = 0
    input_kg: Decimal = ZERO
    output_kg: Decimal = ZERO

    @property
    def rate(self) -> Decimal | None:
        return rate_percent(self.output_kg, self.input_kg)

    def targets(self, year: int) -> tuple[Target | None, Target | None]:
        targets = RECYCLING_EFFICIENCY_TARGETS.get(self.group, ())
        return target_in_force(targets, year), next_target(targets, year)

    def meets_target(self, year: int) -> bool | None:
        return meets(self.rate, self.targets(year)[0])


@dataclass
class Efficiency:
    groups: dict[str, GroupRow] = field(default_factory=lambda: {g: GroupRow(g) for g in CHEMISTRY_GROUPS})
    lots: int = 0
    lots_without_output_mass: int = 0
    input_kg_without_output_mass: Decimal = ZERO
    lots_without_batteries: int = 0
    batteries_without_mass: int = 0


def shares(received: tuple[ReceivedBatteries, ...]) -> dict[str, Decimal]:
    """Each group's share of a lot (they add up to 1); empty when the lot has no received battery."""
    by_mass: dict[str, Decimal] = defaultdict(Decimal)
    by_count: dict[str, Decimal] = defaultdict(Decimal)
    for part in received:
        by_mass[chemistry_group(part.chemistry)] += part.mass_kg
        by_count[chemistry_group(part.chemistry)] += part.batteries
    weights = by_mass if sum(by_mass.values(), ZERO) > 0 else by_count
    whole = sum(weights.values(), ZERO)
    if whole <= 0:
        return {}
    return {group: weight / whole for group, weight in weights.items() if weight > 0}


def efficiency(lots: list[RecoveredLot]) -> Efficiency:
    result = Efficiency()
    for lot in lots:
        result.lots += 1
        if lot.output_mass_kg is None:
            result.lots_without_output_mass += 1
            result.input_kg_without_output_mass += lot.input_mass_kg
            continue
        lot_shares = shares(lot.received)
        if not lot_shares:
            result.lots_without_batteries += 1
            continue
        for group, share in lot_shares.items():
            row = result.groups[group]
            row.lots += 1
            row.input_kg += lot.input_mass_kg * share
            row.output_kg += lot.output_mass_kg * share
        for part in lot.received:
            result.groups[chemistry_group(part.chemistry)].batteries += part.batteries
            result.batteries_without_mass += part.without_mass
    return result
