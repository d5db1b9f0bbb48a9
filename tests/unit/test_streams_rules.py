"""The contract's rules for sales, returns, lots and terms, on a batch's state held in memory (no database).

Each event goes through its handler as the stream worker applies it; a refusal
is the contract's reason code and leaves the state exactly as it was.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts.structs import read_event
from streams.domain.battery import Battery, Party
from streams.domain.errors import Rejected
from streams.domain.lot import Lot
from streams.domain.terms import Terms, in_force
from streams.service_layer.registry import HANDLERS
from streams.service_layer.state import BatchState

AT = "2026-11-24T10:15:00+00:00"
SOURCE_OF = {
    "sale.recorded": "pos",
    "sale.cancelled": "pos",
    "collection.logged": "return_centre",
    "custody.transferred": "return_centre",
    "lot.dispatched": "return_centre",
    "lot.received": "recycler",
    "recovery.confirmed": "recycler",
    "terms.published": "finance",
    "deposits.released": "finance",
    "discrepancy.resolved": "finance",
    "payment.recorded": "finance",
}


def event(event_type: str, source_id: str, at: str = AT, **data):
    raw = json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": event_type,
            "version": 1,
            "occurred_at": at,
            "source": {"kind": SOURCE_OF[event_type], "id": source_id},
            "data": data,
        }
    ).encode()
    read = read_event(raw)
    assert read is not None, raw
    return read[0]


def apply(state: BatchState, an_event) -> None:
    """The handler, as the worker calls it; a refusal must leave the state as it was."""
    before = copy.deepcopy(state)
    try:
        HANDLERS[an_event.type](state, an_event)
    except Rejected:
        assert state == before, "a refused event changed the batch's state"
        raise


def refused(state: BatchState, an_event) -> str:
    with pytest.raises(Rejected) as caught:
        apply(state, an_event)
    return caught.value.reason


def item(serial: str, contract: str = "deposit", deposit: int = 5000) -> dict:
    return {
        "serial": serial,
        "sku": "EB-500",
        "category": "lmt",
        "chemistry": "li-ion-nmc",
        "mass_kg": 2.8,
        "deposit": deposit,
        "recycling_fee": 800,
        "contract": contract,
    }


def sale(sale_id: str = "S-1", *serials: str, store: str = "store-1", contract: str = "deposit"):
    deposit = 0 if contract == "lease" else 5000
    return event(
        "sale.recorded",
        store,
        sale_id=sale_id,
        store_id=store,
        currency="EUR",
        items=[item(s, contract, deposit) for s in serials or ("BAT-1",)],
    )


def collection(serial: str = "BAT-1", centre: str = "centre-7"):
    return event(
        "collection.logged",
        centre,
        collection_id=f"C-{serial}",
        centre_id=centre,
        serial=serial,
        condition="functional",
    )


def dispatch(lot_id: str, *serials: str, centre: str = "centre-7", kg: float = 5.6):
    return event(
        "lot.dispatched",
        centre,
        lot_id=lot_id,
        centre_id=centre,
        recycler_id="rec-1",
        serials=list(serials),
        gross_mass_kg=kg,
    )


def receipt(lot_id: str, *serials: str, recycler: str = "rec-1", kg: float = 5.6):
    return event(
        "lot.received",
        recycler,
        lot_id=lot_id,
        recycler_id=recycler,
        serials_received=list(serials),
        gross_mass_kg=kg,
    )


def recovery(lot_id: str, recycler: str = "rec-1"):
    return event(
        "recovery.confirmed",
        recycler,
        lot_id=lot_id,
        recycler_id=recycler,
        input_mass_kg=5.5,
        recovered=[{"material": "nickel", "mass_kg": 0.6}, {"material": "nickel", "mass_kg": 0.1}],
        cost=300,
        currency="EUR",
    )


def test_a_sale_puts_each_battery_in_use_and_posts_its_deposit_and_fee():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1", "BAT-2"))
    assert {s: b.state for s, b in state.batteries.items()} == {"BAT-1": "in_use", "BAT-2": "in_use"}
    assert [(p.kind, p.posting_key) for p in state.postings] == [
        ("sale", "sale:S-1:BAT-1"),
        ("sale", "sale:S-1:BAT-2"),
    ]
    assert state.changed_sale_items == {("S-1", "BAT-1"), ("S-1", "BAT-2")}


def test_a_sale_recorded_twice_is_a_duplicate_sale():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1"))
    assert refused(state, sale("S-1", "BAT-9")) == "duplicate_sale"


def test_a_serial_sold_again_is_held_in_suspense_with_a_discrepancy():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1"))
    apply(state, sale("S-2", "BAT-1"))
    assert state.sales["S-2"].items["BAT-1"].status == "suspense"
    assert state.postings[-1].kind == "sale_suspense"
    assert [d.kind for d in state.discrepancies] == ["serial_already_in_market"]


def test_a_cancelled_serial_sold_again_re_enters_the_market_with_the_new_sale():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1"))
    apply(
        state,
        event(
            "sale.cancelled",
            "store-1",
            sale_id="S-1",
            store_id="store-1",
            serials=["BAT-1"],
            reason="withdrawn",
        ),
    )
    assert state.batteries["BAT-1"].state == "cancelled"
    apply(state, sale("S-2", "BAT-1", store="store-2", contract="lease"))
    battery = state.batteries["BAT-1"]
    assert (battery.state, battery.contract, battery.deposit_charged, battery.recycling_fee) == (
        "in_use",
        "lease",
        0,
        800,
    )
    assert (battery.sale_id, battery.store_id, battery.custodian) == (
        "S-2",
        "store-2",
        Party("customer", "sale:S-2"),
    )
    assert state.sales["S-2"].items["BAT-1"].status == "in_market"
    assert state.sales["S-1"].items["BAT-1"].status == "cancelled"
    assert [(p.kind, p.posting_key) for p in state.postings] == [
        ("sale", "sale:S-1:BAT-1"),
        ("cancellation", "cancel:S-1:BAT-1"),
        ("sale_lease", "sale:S-2:BAT-1"),
    ]
    assert [t.state for t in battery.new_history] == ["in_use", "cancelled", "in_use"]
    assert state.discrepancies == []
    # the first sale stays cancelled; the second may be cancelled in its turn, and the battery sold a
    # third time
    cancel = lambda sale_id, store: event(  # noqa: E731
        "sale.cancelled", store, sale_id=sale_id, store_id=store, serials=["BAT-1"], reason="withdrawn"
    )
    assert refused(state, cancel("S-1", "store-1")) == "already_returned"
    apply(state, cancel("S-2", "store-2"))
    apply(state, sale("S-3", "BAT-1"))
    apply(state, collection("BAT-1"))
    assert (battery.state, battery.sale_id, battery.deposit_refunded) == ("collected", "S-3", 5000)
    assert len({p.posting_key for p in state.postings}) == len(state.postings) == 6
    # a serial in any other state is still held in suspense
    apply(state, sale("S-4", "BAT-1"))
    assert state.sales["S-4"].items["BAT-1"].status == "suspense"
    assert [d.kind for d in state.discrepancies] == ["serial_already_in_market"]


def test_a_cancellation_is_refused_for_another_store_an_unknown_serial_or_sale_and_a_returned_battery():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1", "BAT-2"))
    cancel = lambda serials, store="store-1", sale_id="S-1": event(  # noqa: E731
        "sale.cancelled", store, sale_id=sale_id, store_id=store, serials=serials, reason="withdrawn"
    )
    assert refused(state, cancel(["BAT-1"], store="store-2")) == "source_mismatch"
    assert refused(state, cancel(["BAT-3"])) == "serial_not_in_sale"
    assert refused(state, cancel(["BAT-1"], sale_id="S-9")) == "unknown_sale"
    apply(state, collection("BAT-2"))
    assert refused(state, cancel(["BAT-1", "BAT-2"])) == "already_returned"
    apply(state, cancel(["BAT-1"]))
    assert (state.batteries["BAT-1"].state, state.postings[-1].reverses) == ("cancelled", "sale:S-1:BAT-1")
    assert refused(state, cancel(["BAT-1"])) == "already_returned"


def test_a_collection_refunds_the_deposit_charged_once_and_a_second_is_already_returned():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1"))
    apply(state, collection("BAT-1"))
    [refund] = state.refunds
    assert (refund.amount, refund.serial, state.postings[-1].posting_key) == (5000, "BAT-1", "refund:BAT-1")
    assert state.collections[-1].outcome == "refunded"
    assert refused(state, collection("BAT-1", centre="centre-8")) == "already_returned"


def test_a_leased_battery_comes_back_without_a_refund_and_an_unknown_one_free():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1", contract="lease"))
    apply(state, collection("BAT-1"))
    apply(state, collection("BAT-2"))
    assert [c.outcome for c in state.collections] == ["lease_closed", "taken_back_free"]
    assert state.refunds == []


def test_custody_moves_only_from_who_holds_the_battery():
    state = BatchState()
    transfer = lambda source: event(  # noqa: E731
        "custody.transferred",
        "centre-7",
        serial="BAT-1",
        reason="transport",
        **{"from": {"kind": "return_centre", "id": source}, "to": {"kind": "transporter", "id": "haul-3"}},
    )
    assert refused(state, transfer("centre-7")) == "unknown_battery"
    apply(state, collection("BAT-1"))
    assert refused(state, transfer("centre-8")) == "custody_mismatch"
    apply(state, transfer("centre-7"))
    assert state.batteries["BAT-1"].custodian == Party("transporter", "haul-3")


def test_a_lot_goes_dispatched_received_recovered_and_each_step_only_once():
    state = BatchState()
    for serial in ("BAT-1", "BAT-2"):
        apply(state, collection(serial))
    assert refused(state, dispatch("L-1", "BAT-1", "BAT-3")) == "custody_mismatch"
    assert refused(state, dispatch("L-1", "BAT-1", centre="centre-8")) == "custody_mismatch"
    assert refused(state, receipt("L-1", "BAT-1")) == "unknown_lot"
    apply(state, dispatch("L-1", "BAT-1", "BAT-2"))
    assert refused(state, dispatch("L-1", "BAT-1")) == "duplicate_lot"
    assert refused(state, recovery("L-1")) == "lot_not_received"
    assert refused(state, receipt("L-1", "BAT-1", recycler="rec-2")) == "source_mismatch"
    state.changed_lot_items.clear()
    apply(state, receipt("L-1", "BAT-1", "BAT-2"))
    assert state.changed_lot_items == {("L-1", "BAT-1"), ("L-1", "BAT-2")}
    assert refused(state, receipt("L-1", "BAT-1")) == "lot_already_received"
    state.changed_lot_items.clear()
    apply(state, recovery("L-1"))
    assert state.changed_lot_items == set(), "a recovery changes no lot item: none is written again"
    assert {b.state for b in state.batteries.values()} == {"recycled"}
    assert [(m.material, m.mass_kg) for m in state.recovered_materials] == [("nickel", Decimal("0.7"))]
    assert refused(state, recovery("L-1")) == "recovery_already_confirmed"


def test_a_receipt_names_what_is_missing_unexpected_or_of_another_mass():
    state = BatchState()
    for serial in ("BAT-1", "BAT-2"):
        apply(state, collection(serial))
    apply(state, dispatch("L-1", "BAT-1", "BAT-2", kg=5.6))
    apply(state, receipt("L-1", "BAT-1", "BAT-9", kg=6.0))
    assert sorted((d.kind, d.subject) for d in state.discrepancies) == [
        ("mass_mismatch", "L-1"),
        ("missing_in_transit", "BAT-2"),
        ("unexpected_in_lot", "BAT-9"),
    ]


def test_a_sale_that_charges_other_amounts_than_the_terms_opens_a_discrepancy():
    state = BatchState()
    apply(
        state,
        event(
            "terms.published",
            "fin-1",
            sku="EB-500",
            deposit=6000,
            recycling_fee=800,
            currency="EUR",
            effective_from="2026-01-01T00:00:00Z",
        ),
    )
    apply(state, sale("S-1", "BAT-1"))
    assert [d.kind for d in state.discrepancies] == ["amount_differs_from_terms"]


def test_terms_in_force_are_the_latest_effective_in_the_currency():
    def terms(day: int, currency: str = "EUR", deposit: int = 5000) -> Terms:
        return Terms("EB-500", currency, datetime(2026, 1, day, tzinfo=UTC), deposit, 800, uuid.uuid4())

    published = [terms(1), terms(10, deposit=6000), terms(20), terms(5, "USD")]
    assert in_force(published, "EUR", datetime(2026, 1, 15, tzinfo=UTC)) == published[1]
    assert in_force(published, "EUR", datetime(2025, 12, 31, tzinfo=UTC)) is None
    assert published[1].charged_otherwise("deposit", 5000, 800)
    assert not published[1].charged_otherwise("lease", 0, 800)
    assert terms(10).replaces(terms(10, deposit=1)) and not terms(10).replaces(terms(11))


def test_a_lots_mass_may_differ_by_two_percent():
    lot = Lot("L-1", "centre-7", "rec-1", "in_transit", Decimal("100"), datetime(2026, 1, 1, tzinfo=UTC))
    assert not lot.mass_differs(Decimal("102")) and lot.mass_differs(Decimal("102.1"))


def test_a_battery_already_returned_cannot_be_collected_again():
    with pytest.raises(Rejected) as caught:
        Battery("BAT-1", state="in_transit").check_collectable()
    assert caught.value.reason == "already_returned"
    Battery("BAT-1", state="cancelled").check_collectable()
