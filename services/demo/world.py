"""The demo's world: stores, centres, a transporter, the recycler, and what they sell and return."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

STORES = [f"store-{i:03d}" for i in range(1, 6)]
CENTRES = [f"centre-{i:02d}" for i in range(1, 4)]
TRANSPORTER, RECYCLER = "haul-1", "rec-1"
OPERATOR = "second-life-1"  # a second-life operator: repurposes graded returns into stationary storage
# Where each store sells and each centre collects (ISO 3166-1 alpha-2, contract 8.3).
COUNTRY = {
    **dict(zip(STORES, ["DE", "DE", "FR", "NL", "AT"], strict=True)),
    **dict(zip(CENTRES, ["DE", "FR", "NL"], strict=True)),
}


@dataclass(frozen=True)
class Product:
    sku: str
    category: str
    chemistry: str
    mass_kg: float
    deposit: int
    recycling_fee: int
    handling_fee: int  # what a centre earns per collection (contract 8.1)
    reuse_min_pct: int = 85  # the state of health a return needs to be reused, or repurposed (contract 8.3)
    repurpose_min_pct: int = 65

    def sale_item(self, serial: str, deposit: int, lease: bool) -> dict:
        """One item of a `sale.recorded` for this product (a lease's deposit is 0)."""
        return {
            "serial": serial,
            "sku": self.sku,
            "category": self.category,
            "chemistry": self.chemistry,
            "mass_kg": self.mass_kg,
            "deposit": deposit,
            "recycling_fee": self.recycling_fee,
            "contract": "lease" if lease else "deposit",
        }


PRODUCTS = [
    Product("EB-500", "lmt", "li-ion-nmc", 2.8, 5000, 800, 150),
    Product("SC-250", "lmt", "li-ion-lfp", 1.2, 3000, 400, 100, reuse_min_pct=90, repurpose_min_pct=70),
    Product("TL-18", "portable", "li-ion-nmc", 0.5, 1000, 150, 30),
    Product("CAR-12", "sli", "lead-acid", 15.0, 2500, 600, 200),
]
# Recovered share of each kilogram of battery, by chemistry (what the recycler reports): below the content
# the scheme estimates for the chemistry (composition.MATERIAL_FRACTIONS), as a real process recovers less
# than a battery holds.
RECOVERY_KG_PER_KG = {
    "li-ion-nmc": {"lithium": 0.018, "cobalt": 0.045, "nickel": 0.11, "copper": 0.08, "aluminium": 0.05},
    "li-ion-lfp": {"lithium": 0.010, "iron": 0.11, "copper": 0.09, "aluminium": 0.06},
    "lead-acid": {"lead": 0.6},
}
# What the recycler's process puts out per kilogram of battery put in, by chemistry (its `output_mass_kg`:
# the recycling efficiency of contract 8.3, judged against Annex XII Part B); other chemistries put out this.
OUTPUT_KG_PER_KG = {"li-ion-nmc": 0.72, "li-ion-lfp": 0.68, "lead-acid": 0.83}
OUTPUT_KG_PER_KG_OTHER = 0.55
COST_PER_KG = 150  # minor units the recycler charges per kilogram of input


@dataclass
class Battery:
    serial: str
    product: Product
    contract: str
    sold_month: int
    store: str
    sale_id: str
    state: str = "in_use"
    holder: str = ""  # the centre that collected it
    returned_at: str = ""  # when it was last collected: its second life comes after


@dataclass
class Lot:
    lot_id: str
    centre: str
    serials: list[str]
    mass_kg: float
    month: int
    received: list[str] = field(default_factory=list)


def month_start(month: int, months: int) -> datetime:
    """Month 0 is `months` months ago; the last month ends a day ago (nothing is in the future)."""
    now = datetime.now(UTC) - timedelta(days=1)
    return now - timedelta(days=30 * (months - month))


def at(month: int, months: int, rng: random.Random) -> str:
    """A moment in the month, never ahead of the clock (the month after the last is only a day long)."""
    moment = month_start(month, months) + timedelta(seconds=rng.randint(0, 29 * 86400))
    return min(moment, datetime.now(UTC) - timedelta(minutes=1)).isoformat()


def event(event_type: str, kind: str, source_id: str, occurred_at: str, data: dict) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "version": 1,
        "occurred_at": occurred_at,
        "source": {"kind": kind, "id": source_id},
        "data": data,
    }
