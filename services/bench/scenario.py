"""Battery lives for the benchmark: sale, collection, lot dispatch, receipt, recovery."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

ITEMS_PER_SALE = 10
BATTERIES_PER_LOT = 100
DEPOSIT = 5000  # minor units a battery, every sale item of a run
RECYCLING_FEE = 800
CURRENCY = "EUR"


@dataclass(frozen=True)
class Names:
    run: str
    store: str = "store-bench"
    centre: str = "centre-bench"
    recycler: str = "rec-bench"

    def serial(self, i: int) -> str:
        return f"{self.run}-{i:08d}"

    def sale_id(self, first: int) -> str:
        """The sale of battery `first` and the next ITEMS_PER_SALE - 1."""
        return f"{self.run}-S{first}"


def _envelope(event_type: str, kind: str, source_id: str, data: dict) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": {"kind": kind, "id": source_id},
        "data": data,
    }


def encode(event: dict) -> bytes:
    """Compact JSON; the benchmark shares the machine with the stack, so it encodes in native code."""
    return orjson.dumps(event)


def sales(names: Names, batteries: range):
    for first in range(batteries.start, batteries.stop, ITEMS_PER_SALE):
        items = [
            {
                "serial": names.serial(i),
                "sku": "EB-500",
                "category": "lmt",
                "chemistry": "li-ion-nmc",
                "mass_kg": 2.8,
                "deposit": DEPOSIT,
                "recycling_fee": RECYCLING_FEE,
                "contract": "deposit",
            }
            for i in range(first, min(first + ITEMS_PER_SALE, batteries.stop))
        ]
        sale_id = names.sale_id(first)
        yield (
            "takeback.sales",
            sale_id,
            lambda s=sale_id, it=items: _envelope(
                "sale.recorded",
                "pos",
                names.store,
                {"sale_id": s, "store_id": names.store, "currency": CURRENCY, "items": it},
            ),
        )


def collection(centre: str, serial: str) -> dict:
    data = {"collection_id": f"C-{serial}", "centre_id": centre, "serial": serial, "condition": "functional"}
    return _envelope("collection.logged", "return_centre", centre, data)


def collections(names: Names, batteries: range):
    for i in batteries:
        serial = names.serial(i)
        yield "takeback.collections", serial, lambda s=serial: collection(names.centre, s)


def _lots(names: Names, batteries: range):
    for first in range(batteries.start, batteries.stop, BATTERIES_PER_LOT):
        serials = [names.serial(i) for i in range(first, min(first + BATTERIES_PER_LOT, batteries.stop))]
        yield f"{names.run}-L{first}", serials


def dispatches(names: Names, batteries: range):
    for lot_id, serials in _lots(names, batteries):
        yield (
            "takeback.lots",
            lot_id,
            lambda lot=lot_id, s=serials: _envelope(
                "lot.dispatched",
                "return_centre",
                names.centre,
                {
                    "lot_id": lot,
                    "centre_id": names.centre,
                    "recycler_id": names.recycler,
                    "serials": s,
                    "gross_mass_kg": round(2.8 * len(s), 1),
                },
            ),
        )


def receipts(names: Names, batteries: range):
    for lot_id, serials in _lots(names, batteries):
        yield (
            "takeback.lots",
            lot_id,
            lambda lot=lot_id, s=serials: _envelope(
                "lot.received",
                "recycler",
                names.recycler,
                {
                    "lot_id": lot,
                    "recycler_id": names.recycler,
                    "serials_received": s,
                    "gross_mass_kg": round(2.8 * len(s), 1),
                },
            ),
        )


def recoveries(names: Names, batteries: range):
    for lot_id, serials in _lots(names, batteries):
        yield (
            "takeback.recoveries",
            lot_id,
            lambda lot=lot_id, n=len(serials): _envelope(
                "recovery.confirmed",
                "recycler",
                names.recycler,
                {
                    "lot_id": lot,
                    "recycler_id": names.recycler,
                    "input_mass_kg": round(2.8 * n, 1),
                    "cost": 150 * n,
                    "currency": "EUR",
                    "recovered": [
                        {"material": "nickel", "mass_kg": round(0.3 * n, 1)},
                        {"material": "cobalt", "mass_kg": round(0.1 * n, 1)},
                    ],
                },
            ),
        )


PHASES = (
    ("sales", sales),
    ("collections", collections),
    ("dispatches", dispatches),
    ("receipts", receipts),
    ("recoveries", recoveries),
)


def expected_entries(batteries: int) -> int:
    """Journal entries the lives call for: one per sale item, one per refund, one per lot recovery."""
    lots = -(-batteries // BATTERIES_PER_LOT)
    return 2 * batteries + lots
