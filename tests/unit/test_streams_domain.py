"""Pure rules of the stream processor: the battery's state machine, postings, stable ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.postings import PostingRequested
from services.common.ids import NAMESPACE, stable_id
from services.ledger.domain.journal import read_posting
from streams.domain import postings
from streams.domain.battery import TRANSITIONS, Battery, Party
from streams.domain.errors import AlreadyReturned, CustodyMismatch

NOW = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)
CENTRE = Party("return_centre", "centre-7")


def test_a_life_follows_the_transitions_and_is_recorded_in_order():
    battery = Battery("BAT-1")
    for event_type, party in [
        ("sale.recorded", Party("customer", "c")),
        ("collection.logged", CENTRE),
        ("lot.dispatched", CENTRE),
        ("lot.received", Party("recycler", "r")),
        ("recovery.confirmed", Party("recycler", "r")),
    ]:
        battery.move(event_type, party, NOW, uuid.uuid4())
    assert battery.state == "recycled"
    assert [t.seq for t in battery.new_history] == [1, 2, 3, 4, 5]
    assert [t.state for t in battery.new_history] == [
        "in_use",
        "collected",
        "in_transit",
        "at_recycler",
        "recycled",
    ]


@pytest.mark.parametrize("state", ["collected", "in_transit", "at_recycler", "recycled"])
def test_a_returned_battery_cannot_be_collected_again(state):
    battery = Battery("BAT-1", state=state, custodian=CENTRE, history_length=3)
    with pytest.raises(AlreadyReturned):
        battery.move("collection.logged", CENTRE, NOW, uuid.uuid4())
    assert (battery.state, battery.history_length, battery.new_history) == (state, 3, [])


def test_only_the_listed_transitions_exist():
    states = [None, "in_use", "cancelled", "collected", "in_transit", "at_recycler", "recycled"]
    types = {t for _, t in TRANSITIONS}
    for state in states:
        for event_type in types:
            battery = Battery("B", state=state, custodian=CENTRE)
            assert battery.can(event_type) == ((state, event_type) in TRANSITIONS)


def test_a_transfer_from_someone_else_is_refused_and_changes_nothing():
    battery = Battery("BAT-1", state="collected", custodian=CENTRE, history_length=2)
    with pytest.raises(CustodyMismatch):
        battery.transfer(Party("transporter", "other"), Party("transporter", "h"), NOW, uuid.uuid4())
    assert battery.custodian == CENTRE and battery.new_history == []


@pytest.mark.parametrize("contract,suspense", [("deposit", False), ("lease", False), ("deposit", True)])
def test_postings_balance_and_cancellations_reverse_them_exactly(contract, suspense):
    deposit = 0 if contract == "lease" else 5000
    sale = postings.sale_item(
        "S-1", "store-1", "BAT-1", contract, deposit, 800, "EUR", uuid.uuid4(), NOW, suspense
    )
    wire = PostingRequested.model_validate_json(sale.to_json())  # the wire model's own checks agree
    assert (wire.posting_key, wire.kind, wire.subject, wire.caused_by, wire.effective_at, wire.reverses) == (
        sale.posting_key,
        sale.kind,
        sale.subject,
        sale.caused_by,
        sale.effective_at,
        sale.reverses,
    )
    assert [line.model_dump() for line in wire.lines] == [line.as_dict() for line in sale.lines]
    assert PostingRequested.model_validate_json(
        postings.cancellation(sale, uuid.uuid4(), NOW, "S-1").to_json()
    )
    reversal = postings.cancellation(sale, uuid.uuid4(), NOW, "S-1")
    assert {(line.account, line.debit, line.credit) for line in reversal.lines} == {
        (line.account, line.credit, line.debit) for line in sale.lines
    }
    assert reversal.reverses == sale.posting_key


AMOUNTS = st.integers(min_value=0, max_value=10**15)  # minor units; a sale's two together stay in range


def every_posting(amount: int, fee: int) -> list:
    """A posting of every builder (and every branch of the sale's), from the same amounts."""
    cause = uuid.uuid4()
    sales = [
        postings.sale_item("S-1", "store-1", "BAT-1", contract, deposit, fee, "EUR", cause, NOW, suspense)
        for contract, deposit, suspense in [
            ("deposit", amount, False),
            ("lease", 0, False),
            ("deposit", amount, True),
            ("lease", 0, True),
        ]
    ]
    return [
        *sales,
        *(postings.cancellation(sale, cause, NOW, "S-1") for sale in sales if sale is not None),
        postings.refund("BAT-1", "centre-7", amount, "EUR", cause, NOW),
        postings.refund("BAT-1", "centre-7", amount, "EUR", cause, NOW, from_reserve=True),
        postings.recovery("LOT-1", "recycler-1", amount, "EUR", cause, NOW),
        *(
            postings.payment("P-1", kind, "x-1", amount, "EUR", cause, NOW)
            for kind in ("store", "centre", "recycler")
        ),
        postings.deposits_released("R-1", amount, "EUR", cause, NOW),
        postings.release_cancelled("S-1", "BAT-1", amount, "EUR", cause, NOW),
        postings.suspense_returned(cause, "BAT-1", "store-1", amount, "EUR", cause, NOW),
        postings.handling_fee(cause, "BAT-1", "centre-7", fee, "EUR", NOW),
    ]


@settings(max_examples=300, deadline=None)
@given(amount=AMOUNTS, fee=AMOUNTS)
def test_every_posting_built_is_one_the_ledger_posts(amount, fee):
    """The streams do not check a posting's balance again: each is balanced by construction, checked once
    where the ledger makes its entry (then by the database). Every builder passes that check, for any
    amounts, or posts nothing when nothing moves."""
    for posting in every_posting(amount, fee):
        if posting is None:
            continue
        entry = read_posting(posting.posting_key.encode(), posting.to_json())  # the ledger's own reading
        assert entry.is_balanced() and len(entry.accounts) >= 2
        assert all((debit > 0) != (credit > 0) for debit, credit in zip(entry.debits, entry.credits))
        assert PostingRequested.model_validate_json(posting.to_json()).posting_key == posting.posting_key


def test_nothing_charged_posts_nothing():
    assert postings.refund("BAT-1", "centre-7", 0, "EUR", uuid.uuid4(), NOW) is None


@pytest.mark.parametrize(
    "parts",
    [("refund", uuid.UUID(int=7)), ("rejected", "takeback.sales", 3, 17), ("posting", "sale:S-1:BAT-ä")],
)
def test_stable_ids_are_uuid5_of_their_parts(parts):
    assert stable_id(*parts) == str(uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts)))


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(st.one_of(st.text(), st.integers(), st.uuids()), min_size=1, max_size=4))
def test_any_stable_id_is_the_uuid5_of_its_parts(parts):
    assert stable_id(*parts) == str(uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts)))
