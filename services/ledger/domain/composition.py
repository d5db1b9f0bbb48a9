"""What a battery is made of, and what recycling it costs: documented planning tables.

MATERIAL_FRACTIONS: mass fraction of a whole battery (cells, casing, wiring) per
chemistry, rounded typical values for the common designs of each chemistry (NMC
at mid nickel content; lead-acid with its lead grids and paste). They estimate
the material *content* of received batteries, the denominator of the recovery
rate of Annex XII Part C. Replace them with the recycler's assays per lot when
those exist; `other` contributes no content (unknown, so nothing is claimed).

RECYCLING_COST_MINOR_PER_KG: expected net cost of collecting and recycling one
kilogram, in minor units of the currency (cents per kg), net of the value of the
recovered material. Planning estimates for fund adequacy, set by finance;
lead-acid is cheap because its lead pays for most of the process, LFP dear
because it holds little of value. A currency not in the table has no estimate,
and fund adequacy says so instead of guessing an exchange rate.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

MATERIALS = ("lithium", "cobalt", "nickel", "copper", "lead", "manganese", "aluminium", "iron", "graphite")

_D = Decimal
MATERIAL_FRACTIONS: dict[str, dict[str, Decimal]] = {
    "li-ion-nmc": {
        "lithium": _D("0.020"),
        "cobalt": _D("0.050"),
        "nickel": _D("0.120"),
        "copper": _D("0.100"),
        "manganese": _D("0.050"),
        "aluminium": _D("0.080"),
        "iron": _D("0.050"),
        "graphite": _D("0.160"),
    },
    "li-ion-nca": {
        "lithium": _D("0.020"),
        "cobalt": _D("0.020"),
        "nickel": _D("0.160"),
        "copper": _D("0.100"),
        "aluminium": _D("0.090"),
        "iron": _D("0.040"),
        "graphite": _D("0.160"),
    },
    "li-ion-lfp": {
        "lithium": _D("0.012"),
        "copper": _D("0.100"),
        "aluminium": _D("0.090"),
        "iron": _D("0.120"),
        "graphite": _D("0.160"),
    },
    "li-ion-lco": {
        "lithium": _D("0.025"),
        "cobalt": _D("0.180"),
        "copper": _D("0.080"),
        "aluminium": _D("0.060"),
        "iron": _D("0.050"),
        "graphite": _D("0.150"),
    },
    "lead-acid": {"lead": _D("0.650"), "copper": _D("0.005")},
    "nimh": {
        "nickel": _D("0.350"),
        "cobalt": _D("0.040"),
        "manganese": _D("0.020"),
        "aluminium": _D("0.010"),
        "iron": _D("0.200"),
    },
    "nicd": {"nickel": _D("0.220"), "cobalt": _D("0.010"), "iron": _D("0.350")},
    "other": {},
}

RECYCLING_COST_MINOR_PER_KG: dict[str, dict[str, int]] = {
    "EUR": {
        "li-ion-nmc": 150,
        "li-ion-nca": 150,
        "li-ion-lfp": 300,
        "li-ion-lco": 100,
        "lead-acid": 20,
        "nimh": 100,
        "nicd": 150,
        "other": 250,
    },
}

assert all(sum(fractions.values()) < 1 for fractions in MATERIAL_FRACTIONS.values())
assert all(set(fractions) <= set(MATERIALS) for fractions in MATERIAL_FRACTIONS.values())


def composition_known(chemistry: str | None) -> bool:
    """Whether the table gives this chemistry's materials: not for `other`, nor an orphan's unknown one."""
    return bool(MATERIAL_FRACTIONS.get(chemistry or "other"))


def material_content_kg(chemistry: str | None, mass_kg: Decimal) -> dict[str, Decimal]:
    """Estimated kilograms of each material in batteries of this chemistry weighing `mass_kg` in all."""
    fractions = MATERIAL_FRACTIONS.get(chemistry or "other", {})
    return {material: mass_kg * fraction for material, fraction in fractions.items()}


def expected_recycling_cost(currency: str, chemistry: str | None, mass_kg: Decimal) -> int | None:
    """Minor units, rounded up (a fund is short, never long, by rounding); None: no estimate for this
    currency."""
    rates = RECYCLING_COST_MINOR_PER_KG.get(currency)
    if rates is None:
        return None
    rate = rates.get(chemistry or "other", rates["other"])
    return int((mass_kg * rate).to_integral_value(rounding=ROUND_CEILING))
