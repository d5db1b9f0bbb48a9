"""The first stages of a battery's life in a chaos run (sold, cancelled, returned); the lot stages are
in `lots`.

Every stage touches only its own chunk's batteries, so the events of one wave
never depend on one another, whatever order the stack applies them in.
"""

from __future__ import annotations

from dataclasses import replace

from contracts.accounts import centre_clearing, store_clearing
from services.chaos import bad_events
from services.chaos.model import APPLIED, BatteryModel, SoldItem, refund_entry
from services.chaos.plan import HTTP, KAFKA, Planned, planned

HTTP_SHARE = 0.1  # of sales, returns and lots: the rest speak Kafka
SALE_SIZES = (1, 1, 2, 3, 4)
LEASE_SHARE = 0.1
OFF_TERMS_SHARE = 0.02  # items charged other than the terms (a discrepancy, recorded as charged)
CANCEL_SHARE = 0.03
COLLECT_SHARE = 0.85
ORPHAN_SHARE = 0.01
CONDITIONS = ("functional", "functional", "damaged", "defective", "hazardous")
REFUND_METHODS = ("cash", "card", "bank_transfer", "voucher")


def route(s) -> str:
    return HTTP if s.rng.random() < HTTP_SHARE else KAFKA


def terms(s) -> list[Planned]:
    return [
        planned(
            "terms.published",
            "finance",
            s.world.finance,
            {
                "sku": p.sku,
                "deposit": p.deposit,
                "recycling_fee": p.recycling_fee,
                "currency": "EUR",
                "effective_from": "2020-01-01T00:00:00Z",
            },
            APPLIED,
            HTTP,
        )
        for p in s.world.products
    ]


def sales(s, chunk: int) -> list[Planned]:
    serials, out, sale_ids = s.new_serials(chunk), [], []
    while serials:
        size = min(len(serials), s.rng.choice(SALE_SIZES))
        batch, serials = serials[:size], serials[size:]
        out.append(_sale(s, chunk, batch))
        sale_ids.append(out[-1].key)
    s.sales[chunk] = sale_ids
    return out + bad_events.of_sales(s, chunk)


def _sale(s, chunk: int, serials: list[str]) -> Planned:
    store, sale_id = s.rng.choice(s.world.stores), f"{serials[0]}-S{chunk}"
    items, sold = [], []
    for serial in serials:
        product, lease = s.rng.choice(s.world.products), s.rng.random() < LEASE_SHARE
        deposit = 0 if lease else product.deposit - (100 if s.rng.random() < OFF_TERMS_SHARE else 0)
        items.append(product.sale_item(serial, deposit, lease))
        sold.append(SoldItem(sale_id, store, serial, items[-1]["contract"], deposit, product.recycling_fee))
        s.batteries[serial] = _battery(serial, sold[-1], product.mass_kg)
    event = planned(
        "sale.recorded",
        "pos",
        store,
        {"sale_id": sale_id, "store_id": store, "currency": "EUR", "items": items},
        APPLIED,
        route(s),
    )
    for item in sold:
        s.expect.post(item.sale_entry(event.event_id))
        s.expect.accounts.add(store_clearing(store))
    return event


def _battery(serial: str, item: SoldItem | None, mass_kg: float, state: str = "in_use") -> BatteryModel:
    return BatteryModel(serial, item, state, mass_kg)


def returns(s, chunk: int) -> list[Planned]:
    out = []
    for battery in s.chunk_batteries(chunk, "in_use"):
        draw = s.rng.random()
        if draw < CANCEL_SHARE:
            out.append(cancel(s, battery))
        elif draw < CANCEL_SHARE + COLLECT_SHARE:
            out.append(collect(s, battery))
    s.collections[chunk] = [p for p in out if p.event_type == "collection.logged"]
    return out + orphans(s, chunk) + bad_events.of_returns(s, chunk)


def cancel(s, battery) -> Planned:
    item = battery.item
    event = planned(
        "sale.cancelled",
        "pos",
        item.store,
        {
            "sale_id": item.sale_id,
            "store_id": item.store,
            "serials": [battery.serial],
            "reason": "customer_withdrew",
        },
        APPLIED,
        route(s),
    )
    s.expect.post(item.cancellation_entry(event.event_id))
    s.batteries[battery.serial] = replace(battery, state="cancelled")
    return event


def collect(s, battery, expected=APPLIED) -> Planned:
    """A return at one of the run's centres; a battery in use under deposit is refunded in full."""
    centre = s.rng.choice(s.world.centres)
    refunded = battery.state == "in_use" and battery.item is not None and battery.item.contract == "deposit"
    data = {
        "collection_id": f"C-{battery.serial}",
        "centre_id": centre,
        "serial": battery.serial,
        "condition": s.rng.choice(CONDITIONS),
        "mass_kg": battery.mass_kg,
    }
    if refunded:
        method = s.rng.choice(REFUND_METHODS)
        data["refund"] = {
            "method": method,
            **({"payee_ref": f"p-{battery.serial}"} if method == "bank_transfer" else {}),
        }
    event = planned("collection.logged", "return_centre", centre, data, expected, route(s))
    if expected == APPLIED:
        if refunded:
            s.expect.post(refund_entry(event.event_id, battery.serial, centre, battery.item.deposit))
            s.expect.refunds[battery.serial] = battery.item.deposit
            s.expect.accounts.add(centre_clearing(centre))
        s.batteries[battery.serial] = replace(battery, state="collected", centre=centre)
    return event


def orphans(s, chunk: int) -> list[Planned]:
    """Batteries never sold in the scheme, taken back free of charge (and sent on in the chunk's lots)."""
    count = max(1, round(s.per_chunk * ORPHAN_SHARE))
    out = []
    for index in range(count):
        serial = f"{s.world.run}-O{chunk:04d}-{index}"
        s.batteries[serial] = _battery(serial, None, s.world.products[0].mass_kg, state="new")
        s.chunk_serials[chunk].append(serial)
        out.append(collect(s, s.batteries[serial]))
    return out
