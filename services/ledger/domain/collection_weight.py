"""Collection by weight, as Annex XI of Regulation (EU) 2023/1542 computes it (contract 8.3).

The rate of a year Y is the kilograms collected in Y over the average kilograms placed on the
market in Y, Y-1 and Y-2: collected / ((placed(Y) + placed(Y-1) + placed(Y-2)) / 3). A year
before the scheme's first sale placed nothing: it counts as zero, as the formula says (the row
shows the three years' masses so a reader sees it).

- Placed on the market: the sale items that entered the market (not those held in suspense, not
  those of a cancelled sale), by the sale's year, the item's category and the sale's country.
- Collected: every applied collection in the year (orphans and a repurposed battery collected
  again included), by the battery's category (`unknown` for an orphan) and the collection's
  country; its mass is the collection's `mass_kg`, else the sale item's `mass_kg`; a collection
  with neither weighs nothing and is counted in `collections_without_mass`.
- A country not given is its own group (`country` null) when the report is by country.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from services.ledger.domain.regulation import (
    COLLECTION_TARGETS,
    Target,
    meets,
    next_target,
    rate_percent,
    target_in_force,
)

AVERAGE_OVER_YEARS = 3  # Annex XI: the year and the two before
ZERO = Decimal(0)


@dataclass(frozen=True)
class Placed:
    """Kilograms placed on the market in a year, for one category and country (None: not given)."""

    year: int
    category: str
    country: str | None
    mass_kg: Decimal


@dataclass(frozen=True)
class Collected:
    """Kilograms collected in a year, for one category and country, and how many collections."""

    year: int
    category: str
    country: str | None
    mass_kg: Decimal
    collections: int
    without_mass: int


Key = tuple[int, str, str | None]


@dataclass
class WeightRow:
    year: int
    category: str
    country: str | None
    collected_kg: Decimal = ZERO
    collections: int = 0
    collections_without_mass: int = 0
    placed_kg: list[Decimal] = field(default_factory=lambda: [ZERO] * AVERAGE_OVER_YEARS)  # Y, Y-1, Y-2

    @property
    def placed_total_kg(self) -> Decimal:
        return sum(self.placed_kg, ZERO)

    @property
    def average_placed_kg(self) -> Decimal:
        return self.placed_total_kg / AVERAGE_OVER_YEARS

    @property
    def rate(self) -> Decimal | None:
        """collected / average placed in percent (two decimals); None when nothing was placed."""
        return rate_percent(self.collected_kg * AVERAGE_OVER_YEARS, self.placed_total_kg)

    def targets(self) -> tuple[Target | None, Target | None]:
        targets = COLLECTION_TARGETS.get(self.category, ())
        return target_in_force(targets, self.year), next_target(targets, self.year)

    def meets_target(self) -> bool | None:
        return meets(self.rate, self.targets()[0])


def weight_rows(
    placed: list[Placed],
    collected: list[Collected],
    year: int | None = None,
    category: str | None = None,
    by_country: bool = False,
) -> list[WeightRow]:
    """One row per year, category (and country when `by_country`): for `year` alone when given, else
    for every year in which something was placed or collected. A category that placed something in the
    three years has a row even when nothing of it was collected."""
    rows: dict[Key, WeightRow] = {}

    def row(year_: int, category_: str, country: str | None) -> WeightRow:
        key = (year_, category_, country if by_country else None)
        if key not in rows:
            rows[key] = WeightRow(*key)
        return rows[key]

    years = {year} if year is not None else {p.year for p in placed} | {c.year for c in collected}
    for c in collected:
        if c.year in years and category in (None, c.category):
            r = row(c.year, c.category, c.country)
            r.collected_kg += c.mass_kg
            r.collections += c.collections
            r.collections_without_mass += c.without_mass
    for p in placed:
        for back in range(AVERAGE_OVER_YEARS):
            if p.year + back in years and category in (None, p.category):
                row(p.year + back, p.category, p.country).placed_kg[back] += p.mass_kg
    return sorted(rows.values(), key=lambda r: (r.year, r.category, r.country is None, r.country or ""))
