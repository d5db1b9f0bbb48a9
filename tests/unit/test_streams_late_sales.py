"""Late sales (contract 8.2) on a batch's state held in memory: the sale of an orphan taken back, recorded
after the collection but occurred before it (or at the same instant), books what the other order books.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from streams.adapters.rows import CollectionRow
from streams.domain.battery import Battery, Party
from streams.service_layer.state import BatchState
from tests.unit.test_streams_rules import apply, event, item

SOLD_AT, TAKEN_AT, LATER = (
    "2026-11-24T09:00:00+00:00",
    "2026-11-24T10:00:00+00:00",
    "2026-11-24T11:00:00+00:00",
)


def sale(serial: str, at: str, contract: str = "deposit", sale_id: str = "S-1"):
    deposit = 0 if contract == "lease" else 4000
    return event(
        "sale.recorded",
        "store-1",
        at,
        sale_id=sale_id,
        store_id="store-1",
        currency="EUR",
        customer_ref="c-1",
        items=[item(serial, contract, deposit)],
    )


def collection(serial: str, at: str, refund: dict | None = None):
    data = {"collection_id": f"C-{serial}", "centre_id": "centre-7", "serial": serial, "condition": "damaged"}
    if refund is not None:
        data["refund"] = refund
    return event("collection.logged", "centre-7", at, **data)


def books(state: BatchState) -> tuple:
    """What the events booked: postings, refunds, refund instructions, the battery as it ends."""
    battery = state.batteries["BAT-1"]
    return (
        {(p.posting_key, p.kind, p.caused_by, p.effective_at, p.lines) for p in state.postings},
        {(r.refund_id, r.amount, r.method, r.payee_ref, r.caused_by, r.occurred_at) for r in state.refunds},
        sorted(m.event_id for m in state.outbox if m.topic == "takeback.refunds"),
        (
            battery.state,
            battery.custodian,
            battery.contract,
            battery.deposit_charged,
            battery.deposit_refunded,
        ),
        [(t.event_type, t.state) for t in sorted(battery.new_history, key=lambda t: t.seq)],
    )  # in seq order


@pytest.mark.parametrize("contract", ["deposit", "lease"])
@pytest.mark.parametrize("sold_at", [SOLD_AT, TAKEN_AT])
def test_a_late_sale_in_the_collections_batch_books_what_the_sale_first_books(contract, sold_at):
    sold, taken = sale("BAT-1", sold_at, contract), collection("BAT-1", TAKEN_AT, {"method": "voucher"})
    in_order, late = BatchState(), BatchState()
    for an_event in (sold, taken):
        apply(in_order, an_event)
    for an_event in (taken, sold):
        apply(late, an_event)
    assert books(late) == books(in_order)
    assert late.discrepancies == in_order.discrepancies == []
    outcome = "lease_closed" if contract == "lease" else "refunded"
    assert [(r.outcome, r.collection_event_id, r.sale_event_id) for r in late.late_sales] == [
        (outcome, taken.event_id, sold.event_id)
    ]
    assert [r.outcome for r in late.collections] == ["taken_back_free"]  # its row as written, never changed
    assert [c.outcome for c in in_order.collections] == [outcome]


@pytest.mark.parametrize("where", ["collected", "in_transit", "at_recycler", "recycled", "lost"])
def test_a_late_sale_refunds_the_stored_collection_with_its_method_and_payee(where):
    state = BatchState()
    state.batteries["BAT-1"] = Battery(
        "BAT-1", where, custodian=Party("return_centre", "centre-7"), lot_id="L-1", history_length=2
    )
    loaded = CollectionRow(
        uuid.uuid4(),
        "C-1",
        "BAT-1",
        "centre-7",
        "damaged",
        None,
        "taken_back_free",
        datetime.fromisoformat(TAKEN_AT),
        "bank_transfer",
        "c-77",
    )
    state.orphan_collections["BAT-1"] = loaded
    apply(state, sale("BAT-1", SOLD_AT))
    battery = state.batteries["BAT-1"]
    assert (battery.state, battery.custodian, battery.lot_id, battery.history_length) == (
        where,
        Party("return_centre", "centre-7"),
        "L-1",
        2,
    )  # where it was: it never moves back
    assert [(t.seq, t.event_type, t.from_party, t.to_party, t.state) for t in battery.new_history] == [
        (0, "sale.recorded", None, Party("customer", "c-1"), "in_use")
    ]
    [refund] = state.refunds
    assert (
        refund.amount,
        refund.method,
        refund.payee_ref,
        refund.centre_id,
        refund.caused_by,
        refund.occurred_at,
    ) == (4000, "bank_transfer", "c-77", "centre-7", loaded.event_id, loaded.occurred_at)
    assert [p.kind for p in state.postings] == ["sale", "refund"]


def test_a_sale_after_the_collection_or_a_second_late_sale_is_held_in_suspense():
    after = BatchState()
    apply(after, collection("BAT-1", TAKEN_AT))
    apply(after, sale("BAT-1", LATER))
    assert [p.kind for p in after.postings] == ["sale_suspense"]
    assert [d.kind for d in after.discrepancies] == ["serial_already_in_market"]
    assert (after.refunds, after.late_sales) == ([], [])

    twice = BatchState()
    apply(twice, collection("BAT-1", TAKEN_AT))
    apply(twice, sale("BAT-1", SOLD_AT))
    apply(twice, sale("BAT-1", SOLD_AT, sale_id="S-2"))  # already sold now: no second refund
    assert [p.kind for p in twice.postings] == ["sale", "refund", "sale_suspense"]
    assert len(twice.refunds) == len(twice.late_sales) == 1


def test_a_battery_sold_then_cancelled_then_taken_back_is_not_sold_late():
    """Only an orphan's collection is settled by a late sale: a cancelled sale's battery is not an orphan."""
    state = BatchState()
    apply(state, sale("BAT-1", SOLD_AT))
    apply(
        state,
        event(
            "sale.cancelled",
            "store-1",
            SOLD_AT,
            sale_id="S-1",
            store_id="store-1",
            serials=["BAT-1"],
            reason="withdrawn",
        ),
    )
    apply(state, collection("BAT-1", LATER))
    apply(state, sale("BAT-1", TAKEN_AT, sale_id="S-2"))
    assert state.sales["S-2"].items["BAT-1"].status == "suspense"
    assert state.late_sales == []
