"""Material recovery per material, against Annex XII Part C of Regulation (EU) 2023/1542: which lots count.

The rate of a material is the mass of it recovered over the material content of the batteries it was
recovered from; the contract records recovery "against the material content of the lot's batteries"
(recovery.confirmed). Numerator and denominator must therefore cover the same batteries:

- A received battery's composition is known when its chemistry has a composition table
  (`composition.composition_known`: not `other`, not an orphan's unknown chemistry) and its mass is known.
- A lot is *covered* when it received at least one battery and every battery it received has a known
  composition. A covered lot's recovered mass is counted, and its batteries' content is the denominator.
- Any other lot is left out of both sides, whole. The report states what was left out: the lots, their
  input mass, the recovered mass of each material, and the coverage (covered input mass over all input
  mass), so nothing is hidden and nothing is estimated away.

Why whole lots and not a mixed lot's recovered mass in proportion to its known share: the recycler
confirms one recovered mass per lot and cannot say which battery a kilogram came from. Counting a share of
it assumes the batteries of unknown composition hold the same materials in the same proportions as the
known ones, which is exactly what is not known: an unknown lithium cobalt oxide battery holds more than
three times the cobalt of a nickel manganese cobalt one of the same mass, so an apportioned rate could
still pass 100 %, or fall short, for reasons outside the recycling process. A rate over covered lots relates
measured output to the estimated content of the very input it came from, can be checked lot by lot against
the recycler's confirmations, and is what the coverage figure qualifies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from services.ledger.domain.composition import composition_known, material_content_kg
from services.ledger.domain.recycling_efficiency import ReceivedBatteries, RecoveredLot
from services.ledger.domain.regulation import rate_percent

ZERO = Decimal(0)


def unknown_batteries(part: ReceivedBatteries) -> int:
    """How many of these batteries have no known composition (no table for the chemistry, or no mass)."""
    return part.without_mass if composition_known(part.chemistry) else part.batteries


def covered(lot: RecoveredLot) -> bool:
    """The lot received batteries, and the composition of every one of them is known."""
    return bool(lot.received) and not any(unknown_batteries(part) for part in lot.received)


@dataclass
class MaterialRecovery:
    lots: int = 0
    lots_left_out: int = 0
    input_kg: Decimal = ZERO
    input_kg_left_out: Decimal = ZERO
    batteries: int = 0
    batteries_without_composition: int = 0
    recovered_kg: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))  # covered lots
    recovered_kg_left_out: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    content_kg: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))  # covered lots

    @property
    def coverage_percent(self) -> Decimal | None:
        """The covered lots' share of the input mass; None when no lot was recovered."""
        return rate_percent(self.input_kg - self.input_kg_left_out, self.input_kg)

    def rate_percent(self, material: str) -> Decimal | None:
        """Recovered over content of the covered lots; None without content to divide by."""
        content = self.content_kg.get(material, ZERO)
        return rate_percent(self.recovered_kg.get(material, ZERO), content) if content else None


def material_recovery(
    lots: Iterable[RecoveredLot], recovered: Mapping[str, Mapping[str, Decimal]]
) -> MaterialRecovery:
    """`lots`: the lots recovered in the period with their received batteries; `recovered`: per lot id, the
    kilograms of each material its recovery confirmed."""
    result = MaterialRecovery()
    for lot in lots:
        result.lots += 1
        result.input_kg += lot.input_mass_kg
        result.batteries += sum(part.batteries for part in lot.received)
        result.batteries_without_composition += sum(unknown_batteries(part) for part in lot.received)
        materials = recovered.get(lot.lot_id, {})
        if not covered(lot):
            result.lots_left_out += 1
            result.input_kg_left_out += lot.input_mass_kg
            for material, kg in materials.items():
                result.recovered_kg_left_out[material] += kg
            continue
        for material, kg in materials.items():
            result.recovered_kg[material] += kg
        for part in lot.received:
            for material, kg in material_content_kg(part.chemistry, part.mass_kg).items():
                result.content_kg[material] += kg
    return result
