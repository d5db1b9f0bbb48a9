"""Contract 8.1 through the stream handlers, on a batch's state held in memory: releases and resolutions.

The release itself finds its batteries in SQL when the batch is saved (test_scheme_closing.py, integration);
here: the handler's refusals, the refund from the reserve, the cancellation of a released battery, and every
resolution with its effect and its errors.
"""

from __future__ import annotations

import json
import uuid

import pytest

from streams.domain.discrepancy import Discrepancy
from streams.service_layer.state import BatchState
from tests.unit.test_streams_rules import apply, collection, dispatch, event, receipt, refused, sale

SOURCE = "finance-1"


def release(
    release_id: str = "R-1", sold_before: str = "2026-01-01T00:00:00Z", at: str = "2026-11-24T10:15:00Z"
):
    return event(
        "deposits.released", SOURCE, at=at, release_id=release_id, currency="EUR", sold_before=sold_before
    )


def resolved(discrepancy_id, resolution: str, note: str | None = "credit note 17"):
    return event(
        "discrepancy.resolved", SOURCE, discrepancy_id=str(discrepancy_id), resolution=resolution, note=note
    )


def known(state: BatchState) -> list[uuid.UUID]:
    """The batch's opened discrepancies as the next batch loads them (what `repository.load` reads back)."""
    ids = []
    for row in state.discrepancies:
        discrepancy_id = uuid.UUID(str(row.discrepancy_id))
        ids.append(discrepancy_id)
        state.known_discrepancies.setdefault(
            discrepancy_id, Discrepancy(discrepancy_id, row.kind, row.subject, row.details, row.caused_by)
        )
    return ids


def test_a_release_is_recorded_once_and_another_event_with_its_id_is_a_duplicate_release():
    state = BatchState()
    first = release()
    apply(state, first)
    assert [(r.release_id, r.currency, r.event_id) for r in state.new_releases] == [
        ("R-1", "EUR", first.event_id)
    ]
    assert refused(state, release()) == "duplicate_release"
    state.release_owners["R-2"] = uuid.uuid4()  # made by an earlier batch
    assert refused(state, release("R-2")) == "duplicate_release"
    assert len(state.new_releases) == 1


def test_a_released_battery_collected_is_refunded_in_full_from_the_reserve():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1"))
    state.batteries["BAT-1"].deposit_released = True  # as the release's SQL leaves it
    apply(state, collection("BAT-1"))
    [refund] = state.refunds
    assert refund.amount == 5000 and state.batteries["BAT-1"].deposit_refunded == 5000
    assert {(line.account, line.debit, line.credit) for line in state.postings[-1].lines} == {
        ("reserve:unclaimed_deposits", 5000, 0),
        ("clearing:centre:centre-7", 0, 5000),
    }
    assert state.postings[-1].posting_key == "refund:BAT-1"


def test_a_released_batterys_cancelled_sale_takes_its_deposit_back_from_the_reserve_first():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1"))
    state.batteries["BAT-1"].deposit_released = True
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
    unrelease, cancellation = state.postings[-2:]
    assert unrelease.posting_key == "unrelease:S-1:BAT-1"
    assert {(line.account, line.debit, line.credit) for line in unrelease.lines} == {
        ("reserve:unclaimed_deposits", 5000, 0),
        ("liability:deposits", 0, 5000),
    }
    assert cancellation.reverses == "sale:S-1:BAT-1"
    assert not state.batteries["BAT-1"].deposit_released


def test_a_serial_sold_again_returned_to_store_moves_its_held_money_once_and_blocks_the_cancellation():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1"))
    apply(state, sale("S-2", "BAT-1", store="store-2"))
    [held] = known(state)
    assert refused(state, resolved(held, "accepted")) == "resolution_not_allowed"
    resolution = resolved(held, "returned_to_store")
    apply(state, resolution)
    posting = state.postings[-1]
    assert (posting.kind, posting.posting_key) == ("suspense_return", f"suspense_return:{held}")
    assert {(line.account, line.debit, line.credit) for line in posting.lines} == {
        ("suspense:store:store-2", 5800, 0),
        ("clearing:store:store-2", 0, 5800),
    }
    assert state.sales["S-2"].items["BAT-1"].status == "returned_to_store"
    assert [(r.discrepancy_id, r.resolution, r.note, r.event_id) for r in state.resolutions] == [
        (held, "returned_to_store", "credit note 17", resolution.event_id)
    ]
    assert refused(state, resolved(held, "returned_to_store")) == "already_resolved"
    assert (
        refused(
            state,
            event(
                "sale.cancelled",
                "store-2",
                sale_id="S-2",
                store_id="store-2",
                serials=["BAT-1"],
                reason="withdrawn",
            ),
        )
        == "already_returned"
    )
    out = [
        m for m in state.outbox if m.topic == "takeback.discrepancies" and b"discrepancy.resolved" in m.value
    ]
    assert len(out) == 1 and out[0].key == str(held)


def test_a_held_item_the_store_cancelled_is_returned_to_store_without_moving_money_again():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1"))
    apply(state, sale("S-2", "BAT-1", store="store-2"))
    [held] = known(state)
    apply(
        state,
        event(
            "sale.cancelled",
            "store-2",
            sale_id="S-2",
            store_id="store-2",
            serials=["BAT-1"],
            reason="withdrawn",
        ),
    )
    postings_before = list(state.postings)
    apply(state, resolved(held, "returned_to_store"))
    assert state.postings == postings_before
    assert [r.resolution for r in state.resolutions] == ["returned_to_store"]


def test_a_battery_missing_in_transit_written_off_is_lost_and_nothing_else_is_written_off():
    state = BatchState()
    for serial in ("BAT-1", "BAT-2"):
        apply(state, collection(serial))
    apply(state, dispatch("L-1", "BAT-1", "BAT-2", kg=5.6))
    apply(state, receipt("L-1", "BAT-1", kg=2.8))
    ids = dict(zip([row.kind for row in state.discrepancies], known(state)))
    assert refused(state, resolved(ids["mass_mismatch"], "written_off")) == "resolution_not_allowed"
    assert refused(state, resolved(ids["missing_in_transit"], "accepted")) == "resolution_not_allowed"
    postings_before = len(state.postings)
    apply(state, resolved(ids["missing_in_transit"], "written_off"))
    battery = state.batteries["BAT-2"]
    assert (battery.state, battery.new_history[-1].event_type) == ("lost", "discrepancy.resolved")
    assert len(state.postings) == postings_before
    assert refused(state, collection("BAT-2")) == "already_returned"
    apply(state, resolved(ids["mass_mismatch"], "accepted"))
    assert [r.resolution for r in state.resolutions] == ["written_off", "accepted"]


def test_a_write_off_of_a_battery_no_longer_in_transit_is_not_allowed():
    state = BatchState()
    apply(state, collection("BAT-1"))
    apply(state, dispatch("L-1", "BAT-1"))
    apply(state, receipt("L-1", "BAT-1"))
    missing = Discrepancy(uuid.uuid4(), "missing_in_transit", "BAT-1", {"lot_id": "L-1"}, uuid.uuid4())
    state.known_discrepancies[missing.discrepancy_id] = missing
    assert refused(state, resolved(missing.discrepancy_id, "written_off")) == "resolution_not_allowed"
    assert missing.resolution is None


def test_an_unknown_discrepancy_is_named():
    assert refused(BatchState(), resolved(uuid.uuid4(), "accepted")) == "unknown_discrepancy"


def loaded_again(state: BatchState) -> None:
    """The next batch's view: the discrepancies as `repository.load` reads them back (details from JSON)."""
    state.known_discrepancies.clear()
    for row in state.discrepancies:
        discrepancy_id = uuid.UUID(str(row.discrepancy_id))
        details = json.loads(json.dumps(row.details, default=str))
        state.known_discrepancies[discrepancy_id] = Discrepancy(
            discrepancy_id, row.kind, row.subject, details, row.caused_by
        )


def resolution_effects(openings, resolution, *, same_batch: bool):
    """Apply `openings`, then `resolution`: in the same batch, or in a later one."""
    state = BatchState()
    for opening in openings:
        apply(state, opening)
    if not same_batch:
        loaded_again(state)
    postings, outbox = len(state.postings), len(state.outbox)
    apply(state, resolution)
    return (
        [(r.discrepancy_id, r.resolution, r.note, r.event_id) for r in state.resolutions],
        state.postings[postings:],
        [(m.topic, m.key, without_clock(m.value)) for m in state.outbox[outbox:]],
        {serial: (b.state, b.new_history) for serial, b in state.batteries.items()},
        {(s.sale_id, i.serial): i.status for s in state.sales.values() for i in s.items.values()},
    )


def without_clock(value: bytes) -> dict:
    """The message, but for when it was written (`occurred_at` is the clock at writing)."""
    message = json.loads(value)
    del message["occurred_at"]
    return message


def lot_received_short_of_one() -> list:
    """Two batteries dispatched, one received at half the mass: `missing_in_transit` and `mass_mismatch`."""
    return [
        collection("BAT-1"),
        collection("BAT-2"),
        dispatch("L-1", "BAT-1", "BAT-2", kg=5.6),
        receipt("L-1", "BAT-1", kg=2.8),
    ]


@pytest.mark.parametrize(
    ("openings", "kind", "resolution"),
    [
        (
            lambda: [sale("S-1", "BAT-1"), sale("S-2", "BAT-1", store="store-2")],
            "serial_already_in_market",
            "returned_to_store",
        ),
        (
            lot_received_short_of_one,
            "missing_in_transit",
            "written_off",
        ),
        (
            lot_received_short_of_one,
            "mass_mismatch",
            "accepted",
        ),
    ],
    ids=["returned_to_store", "written_off", "accepted"],
)
def test_a_discrepancy_opened_and_resolved_in_one_batch_ends_as_if_resolved_in_a_later_batch(
    openings, kind, resolution
):
    events = openings()
    probe = BatchState()
    for opening in events:
        apply(probe, opening)
    [row] = [row for row in probe.discrepancies if row.kind == kind]
    resolving = resolved(row.discrepancy_id, resolution)  # its id is known before the batch commits
    one_batch = resolution_effects(events, resolving, same_batch=True)
    two_batches = resolution_effects(events, resolving, same_batch=False)
    assert one_batch == two_batches
    resolutions, postings, outbox, batteries, items = one_batch
    assert [r[1] for r in resolutions] == [resolution]
    assert [(topic, key) for topic, key, _ in outbox] == [("takeback.discrepancies", str(row.discrepancy_id))]
    assert outbox[0][2]["type"] == "discrepancy.resolved"
    assert outbox[0][2]["data"]["resolution"] == resolution
    if resolution == "returned_to_store":
        [posting] = postings
        assert posting.posting_key == f"suspense_return:{row.discrepancy_id}"
        assert items[("S-2", "BAT-1")] == "returned_to_store"
    elif resolution == "written_off":
        assert postings == [] and batteries[row.subject][0] == "lost"
    else:
        assert postings == []


def test_a_discrepancy_opened_in_the_batch_is_resolved_once_there():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1"))
    apply(state, sale("S-2", "BAT-1", store="store-2"))
    [row] = state.discrepancies
    apply(state, resolved(row.discrepancy_id, "returned_to_store"))
    assert refused(state, resolved(row.discrepancy_id, "returned_to_store")) == "already_resolved"
    assert len(state.resolutions) == 1
