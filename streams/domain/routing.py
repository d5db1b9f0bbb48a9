"""Where a collected battery goes next (contract 8.3): its route, from its condition and state of health."""

from __future__ import annotations

from contracts.data_in import REPURPOSE_MIN_PCT_DEFAULT, REUSE_MIN_PCT_DEFAULT
from streams.domain.terms import Terms

REUSE, REPURPOSE, RECYCLE, INSPECT = "reuse", "repurpose", "recycle", "inspect"
ROUTES = (REUSE, REPURPOSE, RECYCLE, INSPECT)
UNFIT = ("hazardous", "defective")  # conditions no grade can save: recycled


def route_of(condition: str, state_of_health_pct: int | None, terms: Terms | None) -> str:
    """Hazardous or defective: recycle. No state of health: inspect. Else by the sku's thresholds in force
    (the contract's defaults, 85 and 65, for a battery whose sku has no terms), checked in the contract's
    order: at or above reuse, reuse; at or above repurpose, repurpose; below, recycle. The contract sets no
    order between the two thresholds: with repurpose above reuse, a state of health at or above reuse is
    reused (reuse is checked first) and one below it recycled, never repurposed."""
    if condition in UNFIT:
        return RECYCLE
    if state_of_health_pct is None:
        return INSPECT
    reuse_min = REUSE_MIN_PCT_DEFAULT if terms is None else terms.reuse_min_pct
    repurpose_min = REPURPOSE_MIN_PCT_DEFAULT if terms is None else terms.repurpose_min_pct
    if state_of_health_pct >= reuse_min:
        return REUSE
    if state_of_health_pct >= repurpose_min:
        return REPURPOSE
    return RECYCLE
