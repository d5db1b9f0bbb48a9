"""Targets of the EU Battery Regulation, Regulation (EU) 2023/1542, where they live in the code.

Collection (minimum collection targets the producer must attain and maintain):
- portable batteries, Article 59(4): 45 % by 31 December 2023, 63 % by 31 December
  2027, 73 % by 31 December 2030;
- batteries of light means of transport (LMT), Article 60(4): 51 % by 31 December
  2028, 61 % by 31 December 2031.
  The regulation computes these rates on its own basis (Annex XI: sales of the
  preceding years, or batteries available for collection). Our approximation,
  stated in every report: batteries collected in a calendar year divided by
  batteries sold in that same year.
Material recovery (Article 71(3), Annex XII Part C), by recyclers:
- by 31 December 2027: cobalt, copper, lead, nickel 90 %; lithium 50 %;
- by 31 December 2031: cobalt, copper, lead, nickel 95 %; lithium 80 %.
The figures are the regulation's; the paragraph references are given as read in
the Official Journal (OJ L 191, 28.7.2023) and are what a legal review checks.
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
        Target(45, 2023, "Article 59(4)"),
        Target(63, 2027, "Article 59(4)"),
        Target(73, 2030, "Article 59(4)"),
    ),
    "lmt": (Target(51, 2028, "Article 60(4)"), Target(61, 2031, "Article 60(4)")),
}

_PART_C = "Article 71(3), Annex XII Part C"
MATERIAL_RECOVERY_TARGETS: dict[str, tuple[Target, ...]] = {
    "cobalt": (Target(90, 2027, _PART_C), Target(95, 2031, _PART_C)),
    "copper": (Target(90, 2027, _PART_C), Target(95, 2031, _PART_C)),
    "lead": (Target(90, 2027, _PART_C), Target(95, 2031, _PART_C)),
    "nickel": (Target(90, 2027, _PART_C), Target(95, 2031, _PART_C)),
    "lithium": (Target(50, 2027, _PART_C), Target(80, 2031, _PART_C)),
}


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
