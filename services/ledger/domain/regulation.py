"""Targets of the EU Battery Regulation, Regulation (EU) 2023/1542, where they live in the code.

Each target carries the article or annex point that sets it (`legal_basis`).

Collection (minimum collection targets the producer must attain and maintain; the rate is computed
as Annex XI sets it: kilograms collected in a year over the average kilograms placed on the market in
that year and the two before):
- portable batteries, Article 59(4): (a) 45 % by 31 December 2023, (b) 63 % by 31 December 2027,
  (c) 73 % by 31 December 2030;
- batteries of light means of transport (LMT), Article 60(4): (a) 51 % by 31 December 2028,
  (b) 61 % by 31 December 2031.
  The count basis of the collection report (batteries collected over batteries sold in the same
  year) is an approximation kept for continuity and stated as such; the weight basis is Annex XI's.
Recycling efficiency (Article 71(2), Annex XII Part B), by recyclers, per chemistry group:
- by 31 December 2025, point 1: (a) lead-acid 75 %, (b) lithium-based 65 %, (c) nickel-cadmium 80 %,
  (d) other waste batteries 50 %;
- by 31 December 2030, point 2: (a) lead-acid 80 %, (b) lithium-based 70 %.
Material recovery (Article 71(2), Annex XII Part C), by recyclers:
- by 31 December 2027, point 1: cobalt, copper, lead, nickel 90 %; lithium 50 %;
- by 31 December 2031, point 2: cobalt, copper, lead, nickel 95 %; lithium 80 %.
Article 71(2) obliges recyclers to attain the targets of Annex XII Parts B and C; Article 71(3) and (4)
only concern how the rates are calculated and verified (Commission Delegated Regulation (EU) 2025/606),
so no target cites them. The figures are the regulation's; the references are given as read in the
Official Journal (OJ L 191, 28.7.2023) and are what a legal review checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

REGULATION = "Regulation (EU) 2023/1542"


@dataclass(frozen=True)
class Target:
    percent: int
    by_end_of: int  # the target holds for this calendar year and every later one
    legal_basis: str

    def as_dict(self) -> dict[str, int | str]:
        return {
            "percent": self.percent,
            "by_end_of": self.by_end_of,
            "legal_basis": f"{REGULATION}, {self.legal_basis}",
        }


COLLECTION_TARGETS: dict[str, tuple[Target, ...]] = {
    "portable": (
        Target(45, 2023, "Article 59(4)(a), Annex XI"),
        Target(63, 2027, "Article 59(4)(b), Annex XI"),
        Target(73, 2030, "Article 59(4)(c), Annex XI"),
    ),
    "lmt": (
        Target(51, 2028, "Article 60(4)(a), Annex XI"),
        Target(61, 2031, "Article 60(4)(b), Annex XI"),
    ),
}

_PART_B_2025, _PART_B_2030 = (
    "Article 71(2), Annex XII Part B point 1",
    "Article 71(2), Annex XII Part B point 2",
)
RECYCLING_EFFICIENCY_TARGETS: dict[str, tuple[Target, ...]] = {
    "lead-acid": (Target(75, 2025, f"{_PART_B_2025}(a)"), Target(80, 2030, f"{_PART_B_2030}(a)")),
    "lithium": (Target(65, 2025, f"{_PART_B_2025}(b)"), Target(70, 2030, f"{_PART_B_2030}(b)")),
    "nickel-cadmium": (Target(80, 2025, f"{_PART_B_2025}(c)"),),
    "other": (Target(50, 2025, f"{_PART_B_2025}(d)"),),
}

_PART_C_2027, _PART_C_2031 = (
    "Article 71(2), Annex XII Part C point 1",
    "Article 71(2), Annex XII Part C point 2",
)
MATERIAL_RECOVERY_TARGETS: dict[str, tuple[Target, ...]] = {
    "cobalt": (Target(90, 2027, f"{_PART_C_2027}(a)"), Target(95, 2031, f"{_PART_C_2031}(a)")),
    "copper": (Target(90, 2027, f"{_PART_C_2027}(b)"), Target(95, 2031, f"{_PART_C_2031}(b)")),
    "lead": (Target(90, 2027, f"{_PART_C_2027}(c)"), Target(95, 2031, f"{_PART_C_2031}(c)")),
    "lithium": (Target(50, 2027, f"{_PART_C_2027}(d)"), Target(80, 2031, f"{_PART_C_2031}(d)")),
    "nickel": (Target(90, 2027, f"{_PART_C_2027}(e)"), Target(95, 2031, f"{_PART_C_2031}(e)")),
}

# The chemistry groups of Annex XII Part B, from the contract's chemistries (contract 8.3).
CHEMISTRY_GROUPS = ("lead-acid", "lithium", "nickel-cadmium", "other")
_GROUP_OF_CHEMISTRY: dict[str, str] = {
    "lead-acid": "lead-acid",
    "li-ion-nmc": "lithium",
    "li-ion-lfp": "lithium",
    "li-ion-nca": "lithium",
    "li-ion-lco": "lithium",
    "nicd": "nickel-cadmium",
    "nimh": "other",
    "other": "other",
}


def chemistry_group(chemistry: str | None) -> str:
    """The Annex XII Part B group of a chemistry; an unknown chemistry (an orphan's) is `other`."""
    return _GROUP_OF_CHEMISTRY.get(chemistry or "other", "other")


def target_in_force(targets: tuple[Target, ...], year: int) -> Target | None:
    """The strictest target whose deadline is this year or earlier; None before the first one."""
    in_force = [target for target in targets if target.by_end_of <= year]
    return max(in_force, key=lambda target: target.by_end_of) if in_force else None


def next_target(targets: tuple[Target, ...], year: int) -> Target | None:
    later = [target for target in targets if target.by_end_of > year]
    return min(later, key=lambda target: target.by_end_of) if later else None


def rate_percent(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """part / whole in percent, two decimals; None when there is no whole to divide by."""
    if whole <= 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"))


def meets(rate: Decimal | None, target: Target | None) -> bool | None:
    """None when there is nothing to judge (no target in force, or no rate)."""
    if target is None or rate is None:
        return None
    return rate >= target.percent
