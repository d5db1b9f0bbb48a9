"""Contract 8.3 on a batch's state in memory: routes, repurposing, the free take-back after a second life."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from contracts import topics
from streams.domain.routing import INSPECT, RECYCLE, REPURPOSE, REUSE, route_of
from streams.domain.terms import Terms
from streams.service_layer.state import BatchState
from tests.unit.test_streams_rules import SOURCE_OF, apply, collection, event, item, refused, sale

SOURCE_OF.setdefault("battery.repurposed", "second_life")
OPERATOR = "op-2"


def terms(reuse: int, repurpose: int) -> Terms:
    return Terms(
        "EB-500", "EUR", datetime(2026, 1, 1, tzinfo=UTC), 5000, 800, uuid.uuid4(), 0, reuse, repurpose
    )


@pytest.mark.parametrize(
    "condition, health, thresholds, route",
    [
        ("hazardous", 100, None, RECYCLE),
        ("defective", 99, (50, 10), RECYCLE),
        ("functional", None, None, INSPECT),
        ("damaged", None, (50, 10), INSPECT),
        ("functional", 85, None, REUSE),
        ("functional", 84, None, REPURPOSE),
        ("damaged", 65, None, REPURPOSE),
        ("functional", 64, None, RECYCLE),
        ("functional", 0, None, RECYCLE),
        ("functional", 90, (90, 70), REUSE),
        ("functional", 89, (90, 70), REPURPOSE),
        ("functional", 70, (90, 70), REPURPOSE),
        ("functional", 69, (90, 70), RECYCLE),
        ("functional", 60, (60, 60), REUSE),
        # Repurpose above reuse: valid terms (the contract sets no order); reuse is checked first, so a
        # battery is reused or recycled, never repurposed.
        ("functional", 62, (60, 65), REUSE),
        ("functional", 65, (60, 65), REUSE),
        ("functional", 60, (60, 65), REUSE),
        ("functional", 59, (60, 65), RECYCLE),
        ("functional", 50, (60, 65), RECYCLE),
        ("damaged", 0, (0, 100), REUSE),
        ("functional", 99, (100, 0), REPURPOSE),
    ],
)
def test_the_route_follows_the_contract(condition, health, thresholds, route):
    assert route_of(condition, health, terms(*thresholds) if thresholds else None) == route


def graded(serial: str, health: int | None, condition: str = "functional", centre: str = "centre-7"):
    data = {
        "collection_id": f"C-{uuid.uuid4()}",
        "centre_id": centre,
        "serial": serial,
        "condition": condition,
    }
    if health is not None:
        data["state_of_health_pct"] = health
    return event("collection.logged", centre, **data)


def to_operator(serial: str, centre: str = "centre-7", operator: str = OPERATOR):
    return event(
        "custody.transferred",
        centre,
        serial=serial,
        **{"from": {"kind": "return_centre", "id": centre}},
        to={"kind": "second_life", "id": operator},
        reason="second_life",
    )


def repurposed(serial: str, operator: str = OPERATOR, application: str = "stationary_storage"):
    return event("battery.repurposed", operator, serial=serial, operator_id=operator, application=application)


def routed(state: BatchState) -> list[dict]:
    return [
        json.loads(m.value)["data"]
        for m in state.outbox
        if m.topic == topics.TOPIC_OF_TYPE[topics.BATTERY_ROUTED]
    ]


def test_each_collection_routes_its_battery_once_and_keeps_the_route():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1"))
    applied = graded("BAT-1", 72)
    apply(state, applied)
    assert routed(state) == [
        {"serial": "BAT-1", "route": REPURPOSE, "state_of_health_pct": 72, "caused_by": str(applied.event_id)}
    ]
    assert [(c.route, c.state_of_health_pct) for c in state.collections] == [(REPURPOSE, 72)]


def test_a_rejected_collection_routes_nothing():
    state = BatchState()
    apply(state, graded("OLD-1", 90))
    assert refused(state, graded("OLD-1", 90)) == "already_returned"
    assert len(routed(state)) == 1


def test_the_skus_terms_in_force_at_the_collection_set_the_thresholds():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1"))
    state.terms["EB-500"] = [terms(95, 90)]
    apply(state, graded("BAT-1", 92))
    assert routed(state)[0]["route"] == REPURPOSE  # the defaults would have reused it


def test_terms_with_only_a_reuse_threshold_below_the_repurpose_default_apply_and_route_by_the_contract():
    state = BatchState()
    published = event(
        "terms.published",
        "fin-1",
        sku="EB-500",
        deposit=5000,
        recycling_fee=800,
        currency="EUR",
        effective_from="2026-01-01T00:00:00Z",
        reuse_min_pct=60,  # below the repurpose default, 65, which these terms keep
    )
    apply(state, published)
    assert [(t.reuse_min_pct, t.repurpose_min_pct) for t in state.terms["EB-500"]] == [(60, 65)]
    apply(state, sale("S-1", "BAT-1", "BAT-2"))
    apply(state, graded("BAT-1", 62))  # at or above reuse (60): reuse, though below repurpose (65)
    apply(state, graded("BAT-2", 50))  # below both: recycle
    assert [(r["serial"], r["route"]) for r in routed(state)] == [("BAT-1", REUSE), ("BAT-2", RECYCLE)]


def test_an_orphan_is_routed_by_the_defaults():
    state = BatchState()
    apply(state, graded("OLD-1", 85))
    assert routed(state)[0]["route"] == REUSE


def test_a_collected_battery_the_operator_holds_is_repurposed_then_taken_back_free():
    state = BatchState()
    apply(state, sale("S-1", "BAT-1"))
    apply(state, collection("BAT-1"))
    apply(state, to_operator("BAT-1"))
    apply(state, repurposed("BAT-1"))
    battery = state.batteries["BAT-1"]
    assert (battery.state, battery.custodian.kind, battery.custodian.id) == (
        "repurposed",
        "second_life",
        OPERATOR,
    )
    assert [(r.serial, r.operator_id, r.application) for r in state.repurposings] == [
        ("BAT-1", OPERATOR, "stationary_storage")
    ]
    refunds, postings = len(state.refunds), len(state.postings)
    apply(state, graded("BAT-1", 40, centre="centre-9"))
    assert (battery.state, battery.custodian.id) == ("collected", "centre-9")
    assert state.collections[-1].outcome == "taken_back_free" and state.collections[-1].handling_fee == 0
    assert (len(state.refunds), len(state.postings)) == (refunds, postings)  # no refund, no fee
    assert [r["route"] for r in routed(state)] == [INSPECT, RECYCLE]
    assert [t.state for t in battery.new_history] == [
        "in_use",
        "collected",
        "collected",
        "repurposed",
        "collected",
    ]


@pytest.mark.parametrize(
    "steps, reason",
    [
        ([], "custody_mismatch"),  # not known to the scheme: not a collected battery the operator holds
        (["sale"], "custody_mismatch"),  # in use, not collected
        (["sale", "collect"], "custody_mismatch"),  # collected, but at the centre
        (["sale", "collect", "to_other_operator"], "custody_mismatch"),  # another operator holds it
        (["sale", "collect", "to_operator", "repurpose"], "custody_mismatch"),  # already repurposed
    ],
)
def test_a_repurposing_is_refused_unless_the_battery_is_collected_and_the_operator_holds_it(steps, reason):
    state = BatchState()
    make = {
        "sale": lambda: sale("S-1", "BAT-1"),
        "collect": lambda: collection("BAT-1"),
        "to_operator": lambda: to_operator("BAT-1"),
        "to_other_operator": lambda: to_operator("BAT-1", operator="op-3"),
        "repurpose": lambda: repurposed("BAT-1"),
    }
    for step in steps:
        apply(state, make[step]())
    assert refused(state, repurposed("BAT-1")) == reason


def test_a_late_sale_of_an_orphan_that_had_a_second_life_settles_its_first_collection():
    state = BatchState()
    first = event(
        "collection.logged",
        "centre-7",
        "2026-11-24T10:00:00+00:00",
        collection_id="C-1",
        centre_id="centre-7",
        serial="OLD-1",
        condition="functional",
        state_of_health_pct=70,
    )
    apply(state, first)
    apply(state, to_operator("OLD-1"))
    apply(state, repurposed("OLD-1"))
    apply(state, graded("OLD-1", 30, centre="centre-9"))
    late = event(
        "sale.recorded",
        "store-1",
        "2026-11-24T09:00:00+00:00",
        sale_id="S-9",
        store_id="store-1",
        currency="EUR",
        items=[{**item("OLD-1"), "deposit": 5000}],
    )
    apply(state, late)
    [refund] = state.refunds
    assert (refund.caused_by, refund.centre_id, refund.amount) == (first.event_id, "centre-7", 5000)
    assert state.batteries["OLD-1"].state == "collected"  # where its second take-back left it
