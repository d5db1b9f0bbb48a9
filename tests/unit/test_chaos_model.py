"""The chaos run's model: the postings of contract section 5, and a plan that is the same for the same
seed."""

from __future__ import annotations

from collections import Counter

from services.chaos.model import APPLIED, SoldItem, balances, recovery_entry, refund_entry
from services.chaos.plan import NEW
from services.chaos.scenario import Scenario
from services.chaos.world import RunWorld

CAUSE = "00000000-0000-0000-0000-000000000001"


def lines(entry) -> set[tuple[str, int, int]]:
    return {(line.account, line.debit, line.credit) for line in entry.lines}


def test_a_deposit_sale_debits_the_store_and_credits_the_liability_and_the_fund():
    entry = SoldItem("S-1", "store-1", "BAT-1", "deposit", 5000, 800).sale_entry(CAUSE)
    assert lines(entry) == {
        ("clearing:store:store-1", 5800, 0),
        ("liability:deposits", 0, 5000),
        ("fund:recycling", 0, 800),
    }


def test_a_lease_sale_sets_only_the_fee_aside():
    entry = SoldItem("S-1", "store-1", "BAT-1", "lease", 0, 800).sale_entry(CAUSE)
    assert lines(entry) == {("clearing:store:store-1", 800, 0), ("fund:recycling", 0, 800)}


def test_a_serial_sold_again_is_held_in_the_stores_suspense():
    entry = SoldItem("S-2", "store-1", "BAT-1", "deposit", 5000, 800, suspense=True).sale_entry(CAUSE)
    assert lines(entry) == {("clearing:store:store-1", 5800, 0), ("suspense:store:store-1", 0, 5800)}


def test_a_cancellation_is_the_exact_reverse_of_the_sale():
    item = SoldItem("S-1", "store-1", "BAT-1", "deposit", 5000, 800)
    sale, cancel = item.sale_entry(CAUSE), item.cancellation_entry(CAUSE)
    assert lines(cancel) == {(account, credit, debit) for account, debit, credit in lines(sale)}


def test_a_refund_and_a_recovery_move_what_section_5_says():
    assert lines(refund_entry(CAUSE, "BAT-1", "centre-7", 5000)) == {
        ("liability:deposits", 5000, 0),
        ("clearing:centre:centre-7", 0, 5000),
    }
    assert lines(recovery_entry(CAUSE, "L-1", "rec-1", 61000)) == {
        ("fund:recycling", 61000, 0),
        ("payable:recycler:rec-1", 0, 61000),
    }


def test_balances_add_each_accounts_lines():
    item = SoldItem("S-1", "store-1", "BAT-1", "deposit", 5000, 800)
    entries = [item.sale_entry("a"), item.cancellation_entry("b")]
    assert balances(entries, {"clearing:store:store-1", "other"}) == {
        "clearing:store:store-1": (5800, 5800),
        "other": (0, 0),
    }


def plan(seed: int) -> tuple[list[tuple], Scenario]:
    scenario = Scenario.sized(RunWorld("Xtest"), seed, 3000)
    shape = [(w.number, p.event_type, p.kind, p.expected) for w in scenario.waves() for p in w.events]
    return shape, scenario


def test_the_same_seed_plans_the_same_load():
    assert plan(4)[0] == plan(4)[0]
    assert plan(4)[0] != plan(5)[0]


def test_the_plan_balances_refunds_each_battery_once_and_includes_every_bad_event():
    shape, scenario = plan(4)
    expect = scenario.expect
    debits = sum(line.debit for entry in expect.entries for line in entry.lines)
    assert debits == sum(line.credit for entry in expect.entries for line in entry.lines)
    refunds = Counter(e.subject for e in expect.entries if e.lines[0].account == "liability:deposits")
    assert set(refunds) == set(expect.refunds) and set(refunds.values()) == {1}
    reasons = {expected[1] for *_, expected in shape if expected != APPLIED}
    assert reasons == {
        "unknown_sale",
        "unknown_battery",
        "event_id_conflict",
        "already_returned",
        "duplicate_lot",
        "duplicate_sale",
        "too_large",
    }
    assert {kind for _, _, kind, _ in shape} == {NEW, "copy", "conflict", "too_large"}
