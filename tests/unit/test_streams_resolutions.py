"""Contract 8.1's pure rules: the `lost` state, the resolution table, the unclaimed-deposit release rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.postings import PostingRequested
from contracts.types import MONEY_MINOR_UNITS_MAX
from streams.domain import postings
from streams.domain.battery import RETURNED, STATES, TRANSITIONS, Battery, Party
from streams.domain.discrepancy import ALLOWED, RESOLUTIONS, Discrepancy, discrepancy_for
from streams.domain.errors import AlreadyReturned, Rejected
from streams.domain.release import Release, ReleaseParts, releasable

NOW = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)
CENTRE = Party("return_centre", "centre-7")
KINDS = (
    "serial_already_in_market",
    "missing_in_transit",
    "amount_differs_from_terms",
    "mass_mismatch",
    "unexpected_in_lot",
    "overpayment",
)


def test_a_battery_in_transit_written_off_is_lost_and_keeps_its_custodian():
    battery = Battery("BAT-1", state="in_transit", custodian=CENTRE, history_length=3)
    battery.move("discrepancy.resolved", CENTRE, NOW, uuid.uuid4())
    assert (battery.state, battery.custodian, battery.history_length) == ("lost", CENTRE, 4)
    assert (
        battery.new_history[-1].state == "lost"
        and battery.new_history[-1].event_type == "discrepancy.resolved"
    )


@pytest.mark.parametrize("state", [s for s in STATES if s != "in_transit"] + [None])
def test_only_a_battery_in_transit_can_be_lost(state):
    battery = Battery("BAT-1", state=state, custodian=CENTRE, history_length=2)
    assert not battery.can("discrepancy.resolved")
    with pytest.raises(AlreadyReturned):
        battery.move("discrepancy.resolved", CENTRE, NOW, uuid.uuid4())
    assert (battery.state, battery.new_history) == (state, [])


def test_a_lost_battery_has_been_returned_and_leaves_that_state_by_no_event():
    assert "lost" in RETURNED and "lost" in STATES
    assert [after for (before, _), after in TRANSITIONS.items() if before == "lost"] == []
    with pytest.raises(AlreadyReturned):
        Battery("BAT-1", state="lost", custodian=CENTRE).check_collectable()


@pytest.mark.parametrize(
    "kind,resolution,effect",
    [
        ("serial_already_in_market", "returned_to_store", "suspense_returned"),
        ("missing_in_transit", "written_off", "battery_lost"),
        ("amount_differs_from_terms", "accepted", "closed"),
        ("mass_mismatch", "accepted", "closed"),
        ("unexpected_in_lot", "accepted", "closed"),
        ("overpayment", "accepted", "closed"),
    ],
)
def test_each_kind_allows_its_one_resolution_with_its_effect(kind, resolution, effect):
    discrepancy = Discrepancy(uuid.uuid4(), kind, "BAT-1", {}, uuid.uuid4())
    for other in RESOLUTIONS:
        if other != resolution:
            with pytest.raises(Rejected) as refused:
                discrepancy.resolve(other)
            assert refused.value.reason == "resolution_not_allowed"
            assert resolution in refused.value.message and other in refused.value.message
    assert discrepancy.resolution is None
    assert discrepancy.resolve(resolution) == effect
    assert discrepancy.resolution == resolution


def test_the_table_covers_the_contract_kinds_and_nothing_else():
    assert set(ALLOWED) == set(KINDS)
    assert {resolution for resolution, _ in ALLOWED.values()} == set(RESOLUTIONS)


def test_a_discrepancy_is_resolved_once():
    discrepancy = Discrepancy(uuid.uuid4(), "mass_mismatch", "L-1", {}, uuid.uuid4())
    discrepancy.resolve("accepted")
    for resolution in RESOLUTIONS:
        with pytest.raises(Rejected) as refused:
            discrepancy.resolve(resolution)
        assert refused.value.reason == "already_resolved"
    assert discrepancy.resolution == "accepted"


def test_a_kind_outside_the_table_allows_no_resolution_and_an_unknown_id_is_named():
    with pytest.raises(Rejected) as refused:
        Discrepancy(uuid.uuid4(), "something_else", "X", {}, uuid.uuid4()).resolve("accepted")
    assert refused.value.reason == "resolution_not_allowed"
    missing = uuid.uuid4()
    for not_an_id in ("D-1", ""):
        with pytest.raises(Rejected) as unknown:
            discrepancy_for({}, not_an_id)
        assert unknown.value.reason == "unknown_discrepancy"
    with pytest.raises(Rejected) as unknown:
        discrepancy_for({}, str(missing))
    assert unknown.value.reason == "unknown_discrepancy" and str(missing) in unknown.value.message


def sold(**changes) -> Battery:
    battery = Battery(
        "BAT-1",
        state="in_use",
        contract="deposit",
        currency="EUR",
        deposit_charged=5000,
        sold_at=NOW - timedelta(days=800),
        custodian=Party("customer", "c-1"),
    )
    for name, value in changes.items():
        setattr(battery, name, value)
    return battery


CUT = NOW - timedelta(days=365)


def test_a_deposit_in_use_sold_before_the_cut_in_that_currency_is_releasable():
    assert releasable(sold(), "EUR", CUT)


@pytest.mark.parametrize(
    "changes",
    [
        {"state": "collected"},
        {"state": "cancelled"},
        {"state": "in_transit"},
        {"state": "lost"},
        {"contract": "lease"},
        {"currency": "SEK"},
        {"sold_at": CUT},
        {"sold_at": CUT + timedelta(seconds=1)},
        {"deposit_released": True},
        {"deposit_charged": 0},
    ],
)
def test_any_other_battery_is_not_releasable(changes):
    assert not releasable(sold(**changes), "EUR", CUT)


def test_a_release_id_is_used_once_by_one_event():
    event_id = uuid.uuid4()
    release = Release("R-1", "EUR", CUT, event_id, NOW)
    assert release.covers(sold())
    Release.check_new("R-1", event_id, None)
    Release.check_new("R-1", event_id, event_id)  # the same event again: no refusal here (the inbox skips it)
    with pytest.raises(Rejected) as refused:
        Release.check_new("R-1", event_id, uuid.uuid4())
    assert refused.value.reason == "duplicate_release" and "R-1" in refused.value.message


def wire(posting: postings.Posting) -> set[tuple]:
    checked = PostingRequested.model_validate_json(posting.to_json())  # the ledger's model accepts it
    return {(line.account, line.debit, line.credit, line.currency) for line in checked.lines}


def test_the_new_postings_have_the_contract_lines():
    cause = uuid.uuid4()
    release = postings.deposits_released("R-1", 15000, "EUR", cause, NOW)
    assert (release.posting_key, release.subject) == ("release:R-1", "R-1")
    assert wire(release) == {
        ("liability:deposits", 15000, 0, "EUR"),
        ("reserve:unclaimed_deposits", 0, 15000, "EUR"),
    }
    refund = postings.refund("BAT-1", "centre-7", 5000, "EUR", cause, NOW, from_reserve=True)
    assert wire(refund) == {
        ("reserve:unclaimed_deposits", 5000, 0, "EUR"),
        ("clearing:centre:centre-7", 0, 5000, "EUR"),
    }
    discrepancy_id = uuid.uuid4()
    returned = postings.suspense_returned(discrepancy_id, "BAT-1", "store-1", 5800, "EUR", cause, NOW)
    assert returned.posting_key == f"suspense_return:{discrepancy_id}"
    assert wire(returned) == {
        ("suspense:store:store-1", 5800, 0, "EUR"),
        ("clearing:store:store-1", 0, 5800, "EUR"),
    }
    back = postings.release_cancelled("S-1", "BAT-1", 5000, "EUR", cause, NOW)
    assert wire(back) == {
        ("reserve:unclaimed_deposits", 5000, 0, "EUR"),
        ("liability:deposits", 0, 5000, "EUR"),
    }


def test_a_release_beyond_one_lines_bound_is_posted_in_parts_each_within_it():
    """The deposits together exceed 2^63-1: filled in order into as few entries as keep each within it, every
    deposit in exactly one, the parts' totals the deposits' total, each posting one the ledger's model
    accepts, under a key no other release's entry can have."""
    deposits = [MONEY_MINOR_UNITS_MAX - 1, 5, MONEY_MINOR_UNITS_MAX // 2, MONEY_MINOR_UNITS_MAX // 2 - 5, 7]
    parts = ReleaseParts()
    assigned = [parts.add(deposit) for deposit in deposits]
    assert assigned == [1, 2, 2, 2, 3]
    assert sum(parts.totals) == sum(deposits) > MONEY_MINOR_UNITS_MAX
    assert all(0 < total <= MONEY_MINOR_UNITS_MAX for total in parts.totals)
    for part, total in enumerate(parts.totals, start=1):
        assert sum(d for d, p in zip(deposits, assigned) if p == part) == total
    made = [
        postings.deposits_released("R-1", total, "EUR", uuid.uuid4(), NOW, part)
        for part, total in enumerate(parts.totals, start=1)
    ]
    assert [p.posting_key for p in made] == ["release:R-1", "release:R-1#2", "release:R-1#3"]
    assert all(p.subject == "R-1" for p in made)
    assert [wire(p) for p in made] == [
        {("liability:deposits", t, 0, "EUR"), ("reserve:unclaimed_deposits", 0, t, "EUR")}
        for t in parts.totals
    ]


def test_a_release_within_one_lines_bound_is_one_entry():
    parts = ReleaseParts()
    assert [parts.add(d) for d in (MONEY_MINOR_UNITS_MAX - 10, 4, 6)] == [1, 1, 1]
    assert parts.totals == [MONEY_MINOR_UNITS_MAX]
    with pytest.raises(ValueError, match="released deposit"):
        parts.add(0)  # releasable deposits are charged ones
    with pytest.raises(ValueError, match="released deposit"):
        parts.add(MONEY_MINOR_UNITS_MAX + 1)


def test_nothing_released_or_held_posts_nothing():
    assert postings.deposits_released("R-1", 0, "EUR", uuid.uuid4(), NOW) is None
    assert postings.suspense_returned(uuid.uuid4(), "BAT-1", "store-1", 0, "EUR", uuid.uuid4(), NOW) is None
