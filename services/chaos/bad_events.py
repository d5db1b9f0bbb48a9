"""The deliberately bad events of a chaos run, each with the outcome the contract gives it."""

from __future__ import annotations

from dataclasses import replace

import orjson

from contracts.accounts import store_clearing, store_suspense
from services.chaos.model import APPLIED, SoldItem, rejected
from services.chaos.plan import CONFLICT, COPY, KAFKA, TOO_LARGE, Planned, from_envelope, planned

TOO_LARGE_BYTES = 300 * 1024  # above the contract's 256 KiB (section 8.4), below what the broker takes


def of_sales(s, chunk: int) -> list[Planned]:
    """A serial of the previous chunk sold again (held in suspense); a sale id used twice."""
    if chunk == 0:
        return []
    candidates = [
        b
        for b in s.chunk_batteries(chunk - 1, "in_use") + s.chunk_batteries(chunk - 1, "collected")
        if b.item is not None
    ]
    out = []
    if candidates:
        battery, store = s.rng.choice(candidates), s.rng.choice(s.world.stores)
        sale_id = f"{battery.serial}-R{chunk}"
        item = SoldItem(
            sale_id,
            store,
            battery.serial,
            battery.item.contract,
            battery.item.deposit,
            battery.item.fee,
            suspense=True,
        )
        event = planned(
            "sale.recorded",
            "pos",
            store,
            {
                "sale_id": sale_id,
                "store_id": store,
                "currency": "EUR",
                "items": [_item(s, battery.serial, item)],
            },
            APPLIED,
        )
        s.expect.post(item.sale_entry(event.event_id))
        s.expect.accounts.update({store_clearing(store), store_suspense(store)})
        out.append(event)
    out.append(
        _sale_of_nothing(
            s, s.rng.choice(s.sales[chunk - 1]), f"{s.world.run}-D{chunk:04d}", rejected("duplicate_sale")
        )
    )
    return out


def _item(s, serial: str, item: SoldItem) -> dict:
    product = s.world.products[0]
    return {
        "serial": serial,
        "sku": product.sku,
        "category": product.category,
        "chemistry": product.chemistry,
        "mass_kg": product.mass_kg,
        "deposit": item.deposit,
        "recycling_fee": item.fee,
        "contract": item.contract,
    }


def _sale_of_nothing(s, sale_id: str, serial: str, expected) -> Planned:
    """A sale of a serial nothing else uses, refused as a whole: it must leave no trace."""
    store = s.rng.choice(s.world.stores)
    item = SoldItem(sale_id, store, serial, "deposit", 5000, 800)
    return planned(
        "sale.recorded",
        "pos",
        store,
        {"sale_id": sale_id, "store_id": store, "currency": "EUR", "items": [_item(s, serial, item)]},
        expected,
    )


def of_returns(s, chunk: int) -> list[Planned]:
    """A transfer of a serial the scheme never saw; a cancellation of a sale never recorded."""
    run, centre, store = s.world.run, s.rng.choice(s.world.centres), s.rng.choice(s.world.stores)
    unknown = planned(
        "custody.transferred",
        "transporter",
        s.world.transporter,
        {
            "serial": f"{run}-U{chunk:04d}",
            "from": {"kind": "return_centre", "id": centre},
            "to": {"kind": "transporter", "id": s.world.transporter},
            "reason": "transport",
        },
        rejected("unknown_battery"),
    )
    no_sale = planned(
        "sale.cancelled",
        "pos",
        store,
        {
            "sale_id": f"{run}-NS{chunk:04d}",
            "store_id": store,
            "serials": [f"{run}-NS{chunk:04d}-1"],
            "reason": "customer_withdrew",
        },
        rejected("unknown_sale"),
    )
    return [unknown, no_sale]


def of_lots_out(s, chunk: int) -> list[Planned]:
    """A collection sent again as it was, and another again with other content."""
    sent = s.collections.get(chunk, [])
    if len(sent) < 2:
        return []
    original, other = s.rng.sample(sent, 2)
    return [replace(original, route=KAFKA, kind=COPY), _conflict(other)]


def _conflict(original: Planned) -> Planned:
    envelope = orjson.loads(original.value)
    data = envelope["data"]
    data["condition"] = "hazardous" if data["condition"] != "hazardous" else "functional"
    return from_envelope(envelope, rejected("event_id_conflict"), KAFKA, kind=CONFLICT)


def of_transport(s, chunk: int) -> list[Planned]:
    """A lot id dispatched a second time."""
    lots = s.lots.get(chunk, [])
    if not lots:
        return []
    lot = lots[0]
    return [planned("lot.dispatched", "return_centre", lot.centre, lot.dispatch, rejected("duplicate_lot"))]


def too_large(s) -> Planned:
    """A sale whose value is above the contract's bound: rejected unread (`too_large`), never applied."""
    sale = _sale_of_nothing(s, f"{s.world.run}-T", f"{s.world.run}-T-1", rejected("too_large"))
    padded = sale.value[:-1] + b" " * (TOO_LARGE_BYTES - len(sale.value)) + b"}"
    return replace(sale, value=padded, kind=TOO_LARGE)
