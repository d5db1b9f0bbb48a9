"""Who takes part in one chaos run: its own stores, centres, recycler and products (run-unique ids).

Every identifier carries the run's prefix, so the run's accounts, serials, sales and
lots are its own and the checker can compare them exactly with the model.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from services.demo.world import PRODUCTS, Product

STORES_PER_RUN = 4
CENTRES_PER_RUN = 3


@dataclass(frozen=True)
class RunWorld:
    run: str

    @classmethod
    def fresh(cls) -> RunWorld:
        return cls(run=f"X{uuid.uuid4().hex[:8]}")

    @property
    def stores(self) -> tuple[str, ...]:
        return tuple(f"{self.run}-store-{i}" for i in range(1, STORES_PER_RUN + 1))

    @property
    def centres(self) -> tuple[str, ...]:
        return tuple(f"{self.run}-centre-{i}" for i in range(1, CENTRES_PER_RUN + 1))

    @property
    def recycler(self) -> str:
        return f"{self.run}-rec"

    @property
    def transporter(self) -> str:
        return f"{self.run}-haul"

    @property
    def finance(self) -> str:
        return f"{self.run}-finance"

    @property
    def products(self) -> tuple[Product, ...]:
        """The demo's products under run-unique skus: the run's terms touch no one else's sales."""
        return tuple(replace(p, sku=f"{self.run}-{p.sku}") for p in PRODUCTS)

    def serial(self, index: int) -> str:
        return f"{self.run}-B{index:07d}"

    def subject_range(self) -> tuple[str, str]:
        """[low, high): every serial, sale and lot of the run sorts in it."""
        return f"{self.run}-", f"{self.run}."
