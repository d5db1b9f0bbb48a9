"""The ledger's pure rules: entries balance, postings are read strictly, batches dedupe, targets apply."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from contracts import topics
from contracts.events import parse_event
from contracts.postings import POSTING_NAMESPACE, PostingRequested, entry_id_for
from services.ledger.adapters import events
from services.ledger.domain import ageing, composition, regulation
from services.ledger.domain.batch import PostingMessage, batch_of_entries, sort_messages
from services.ledger.domain.checks import BALANCED, DISCREPANCIES, Check, money_check, status_of
from services.ledger.domain.errors import KeyMismatch, MalformedPosting, PostingKeyConflict, UnbalancedEntry
from services.ledger.domain.journal import Entry, Line, content_hash_of, movements, read_message, read_posting

NOW = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)
SALE_LINES = [
    {"account": "clearing:store:store-042", "currency": "EUR", "debit": 5800, "credit": 0},
    {"account": "liability:deposits", "currency": "EUR", "debit": 0, "credit": 5000},
    {"account": "fund:recycling", "currency": "EUR", "debit": 0, "credit": 800},
]


def posting(key: str = "sale:S-1:BAT-1", lines: list | None = None, **fields) -> dict:
    return {
        "posting_key": key,
        "kind": "sale",
        "subject": "BAT-1",
        "caused_by": str(uuid.UUID(int=1)),
        "effective_at": NOW.isoformat(),
        "lines": lines or SALE_LINES,
        **fields,
    }


def message(value, key: str | None = "sale:S-1:BAT-1", offset: int = 0) -> PostingMessage:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return PostingMessage("takeback.internal.postings", 0, offset, key.encode() if key else None, raw)


def entry(lines: tuple[Line, ...], key: str = "k") -> Entry:
    return Entry.with_lines(entry_id_for(key), key, "sale", "BAT-1", uuid.UUID(int=1), None, NOW, lines, b"h")


def test_a_posting_is_read_into_an_entry_with_deterministic_ids():
    read = read_posting(b"sale:S-1:BAT-1", json.dumps(posting()).encode())
    assert read.entry_id == entry_id_for("sale:S-1:BAT-1")
    assert read.posted_event_id == uuid.uuid5(POSTING_NAMESPACE, "entry.posted:sale:S-1:BAT-1")
    assert read.is_balanced() and len(read.lines) == 3


def test_entry_posted_is_a_valid_event_of_the_contract():
    read = read_posting(b"sale:S-1:BAT-1", json.dumps(posting()).encode())
    message = events.entry_posted(read, NOW)
    parsed = parse_event(message.value, topics.EVENT_TYPES)
    assert (message.topic, message.key, parsed.event_id) == (
        topics.LEDGER,
        str(read.entry_id),
        read.posted_event_id,
    )
    assert parsed.source.kind == "scheme" and parsed.data.entry_id == str(read.entry_id)
    assert [line.model_dump() for line in parsed.data.lines] == [
        {
            "account": line["account"],
            "debit": line["debit"],
            "credit": line["credit"],
            "currency": line["currency"],
        }
        for line in SALE_LINES
    ]


def test_a_cancellation_points_at_the_entry_it_reverses():
    reversed_lines = [{**line, "debit": line["credit"], "credit": line["debit"]} for line in SALE_LINES]
    read = read_posting(
        b"cancel:S-1:BAT-1",
        json.dumps(
            posting("cancel:S-1:BAT-1", reversed_lines, kind="cancellation", reverses="sale:S-1:BAT-1")
        ).encode(),
    )
    assert read.reverses == entry_id_for("sale:S-1:BAT-1")


@pytest.mark.parametrize(
    "value, refusal",
    [
        (b"not json", MalformedPosting),
        (b"", MalformedPosting),
        (posting(lines=[{**SALE_LINES[0], "debit": 58.0}, *SALE_LINES[1:]]), MalformedPosting),  # float money
        (posting(lines=[{**SALE_LINES[0], "debit": 5801}, *SALE_LINES[1:]]), MalformedPosting),  # unbalanced
        (posting(lines=[{**SALE_LINES[0], "account": "has space"}, *SALE_LINES[1:]]), MalformedPosting),
        (posting(kind="gift"), MalformedPosting),
        ({**posting(), "extra": 1}, MalformedPosting),
    ],
)
def test_a_malformed_posting_is_refused_with_a_reason(value, refusal):
    with pytest.raises(refusal):
        read_posting(b"sale:S-1:BAT-1", value if isinstance(value, bytes) else json.dumps(value).encode())


def test_a_message_key_other_than_the_posting_key_is_refused():
    with pytest.raises(KeyMismatch):
        read_posting(b"another-key", json.dumps(posting()).encode())


def test_an_entry_cannot_exist_unbalanced_or_with_one_line():
    with pytest.raises(UnbalancedEntry):
        entry((Line("a", "EUR", 10, 0), Line("b", "EUR", 0, 9)))
    with pytest.raises(UnbalancedEntry):
        entry((Line("a", "EUR", 10, 0), Line("b", "USD", 0, 10)))  # balanced in total, not per currency
    with pytest.raises(MalformedPosting):
        entry((Line("a", "EUR", 2**63, 0), Line("b", "EUR", 0, 2**63)))


@pytest.mark.parametrize("amount", [2**63, 2**64, 2**70])
def test_a_line_beyond_a_bigint_is_refused_naming_the_field_and_the_others_of_its_batch_post(amount):
    """A line holds at most 2^63-1 minor units (the journal's bigint): beyond it, natively read or not, the
    posting is malformed with the field and the rule, and never crashes the reading (an integer beyond 64
    bits cannot be hashed as the canonical JSON)."""
    lines = [{**SALE_LINES[0], "debit": amount}, {**SALE_LINES[1], "credit": amount - 800}, SALE_LINES[2]]
    with pytest.raises(
        MalformedPosting, match=r"lines\.0\.debit: .*less than or equal to 9223372036854775807"
    ):
        read_posting(b"sale:S-1:BAT-1", json.dumps(posting(lines=lines)).encode())
    batch = {"postings": [posting(lines=lines), posting("sale:S-2:BAT-2")]}
    entries, refused = read_message(b"batch", json.dumps(batch).encode())
    assert [e.posting_key for e in entries] == ["sale:S-2:BAT-2"]
    assert [r.message.split(": ")[:2] for r in refused] == [["postings[0]", "lines.0.debit"]]


def test_a_batch_counts_repeats_and_refuses_a_key_reused_with_other_content():
    other = posting(
        lines=[{**SALE_LINES[0], "debit": 5900}, {**SALE_LINES[1], "credit": 5100}, SALE_LINES[2]]
    )
    batch = sort_messages(
        [
            message(posting()),
            message(posting(), offset=1),
            message(other, offset=2),
            message(b"{", key="x", offset=3),
        ]
    )
    assert [e.posting_key for e in batch.entries] == ["sale:S-1:BAT-1"]
    assert batch.repeats == 1
    assert sorted(u.reason for u in batch.unpostable) == ["malformed_posting", "posting_key_conflict"]
    first = read_posting(b"sale:S-1:BAT-1", json.dumps(posting()).encode())
    with pytest.raises(PostingKeyConflict):
        batch_of_entries([first, read_posting(b"sale:S-1:BAT-1", json.dumps(other).encode())])


def test_a_batch_message_yields_each_posting_and_refuses_by_index_the_malformed_ones():
    postings = [posting(f"sale:S-1:BAT-{n}", subject=f"BAT-{n}") for n in range(3)]
    postings[1]["lines"] = SALE_LINES[:1]  # one line: not a posting
    batch = sort_messages(
        [
            message({"postings": postings}, key="any-batch-id"),
            message({"postings": postings[:1]}, key="another", offset=1),
        ]
    )
    assert [e.posting_key for e in batch.entries] == ["sale:S-1:BAT-0", "sale:S-1:BAT-2"]
    assert batch.repeats == 1  # the second message repeats the first posting
    [refused] = batch.unpostable
    assert refused.reason == "malformed_posting" and "postings[1]" in refused.error
    assert refused.message.offset == 0


@pytest.mark.parametrize(
    "value", [{"postings": []}, {"postings": "x"}, {"postings": [1]}, b'{"postings": [}']
)
def test_a_batch_message_that_is_not_one_is_refused_whole(value):
    batch = sort_messages([message(value, key="k")])
    assert batch.entries == [] and [u.reason for u in batch.unpostable] == ["malformed_posting"]


@settings(max_examples=1000, deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40), st.integers(1, 2**62))
@example("sale:S-1:BAT-1", "\x7f", 1)  # DEL: ASCII, yet escaped by the standard encoder
@example('k"ey', "\x1f\u00e9\U0001f50b", 5)
def test_the_content_hash_is_that_of_the_standard_canonical_json_for_any_text(key, subject, amount):
    request = PostingRequested.model_validate(
        {
            **posting(
                key,
                lines=[
                    {"account": "a", "currency": "EUR", "debit": amount, "credit": 0},
                    {"account": "b", "currency": "EUR", "debit": 0, "credit": amount},
                ],
            ),
            "subject": subject[:64],
        }
    )
    standard = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    assert content_hash_of(request) == hashlib.sha256(standard.encode()).digest()


balanced_amounts = st.lists(st.integers(min_value=1, max_value=10**12), min_size=1, max_size=5)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["EUR", "USD"]), balanced_amounts, st.sampled_from("abc")),
        min_size=1,
        max_size=8,
    )
)
def test_movements_of_balanced_entries_net_to_zero_per_currency(specs):
    entries = [
        entry(
            (
                *(Line(f"debit:{name}", currency, a, 0) for a in amounts),
                Line(f"credit:{name}", currency, 0, sum(amounts)),
            ),
            key=str(i),
        )
        for i, (currency, amounts, name) in enumerate(specs)
    ]
    net: dict[str, int] = {}
    for (_, currency), (debit, credit) in movements(entries).items():
        net[currency] = net.get(currency, 0) + debit - credit
    assert all(value == 0 for value in net.values())


def test_a_money_check_counts_postings_in_flight_and_shows_them():
    assert money_check("deposit_liability", {"EUR": 100}, {"EUR": 60}, {"EUR": 40}).ok
    failed = money_check("deposit_liability", {"EUR": 100}, {"EUR": 60}, {})
    assert not failed.ok and failed.details["difference"] == {"EUR": -40}
    assert status_of([Check("a", True, 0, 0)]) == BALANCED
    assert status_of([Check("a", True, 0, 0), Check("b", False, 0, 1)]) == DISCREPANCIES


@pytest.mark.parametrize(
    "category, year, percent",
    [
        ("portable", 2022, None),
        ("portable", 2023, 45),
        ("portable", 2026, 45),
        ("portable", 2027, 63),
        ("portable", 2030, 73),
        ("portable", 2040, 73),
        ("lmt", 2027, None),
        ("lmt", 2028, 51),
        ("lmt", 2031, 61),
        ("ev", 2030, None),
    ],
)
def test_the_collection_target_in_force(category, year, percent):
    target = regulation.target_in_force(regulation.COLLECTION_TARGETS.get(category, ()), year)
    assert (target.percent if target else None) == percent


def test_material_recovery_targets_of_annex_xii_part_c():
    targets = regulation.MATERIAL_RECOVERY_TARGETS
    assert [regulation.target_in_force(targets["lithium"], y).percent for y in (2027, 2031)] == [50, 80]
    assert [regulation.target_in_force(targets["cobalt"], y).percent for y in (2027, 2031)] == [90, 95]
    assert regulation.next_target(targets["nickel"], 2026).by_end_of == 2027
    assert regulation.rate_percent(1, 3) == Decimal("33.33") and regulation.rate_percent(1, 0) is None
    assert regulation.meets(Decimal("50.00"), targets["lithium"][0]) is True


def test_material_content_and_recycling_cost_estimates():
    content = composition.material_content_kg("lead-acid", Decimal("10"))
    assert content["lead"] == Decimal("6.500")
    assert composition.material_content_kg(None, Decimal("10")) == {}
    assert composition.expected_recycling_cost("EUR", "li-ion-nmc", Decimal("2.801")) == 421  # rounded up
    assert composition.expected_recycling_cost("XTS", "li-ion-nmc", Decimal("1")) is None


@pytest.mark.parametrize(
    "days, bucket",
    [
        (0, "0-90 d"),
        (90, "0-90 d"),
        (91, "91-365 d"),
        (365, "91-365 d"),
        (366, "1-2 y"),
        (730, "1-2 y"),
        (731, "2-5 y"),
        (1827, ">5 y"),
    ],
)
def test_liability_age_buckets(days, bucket):
    assert ageing.age_bucket(days) == bucket
    assert ageing.age_days(NOW - timedelta(days=days, hours=1), NOW) == days
    assert ageing.age_days(NOW + timedelta(hours=1), NOW) == 0


@pytest.mark.parametrize("took_s,expected_s", [(0.5, 300), (20, 300), (42, 378), (73, 657)])
def test_periodic_reconciliation_takes_at_most_a_tenth_of_a_core(took_s, expected_s):
    from services.ledger.entrypoints.worker import next_reconciliation_wait_s

    wait_s = next_reconciliation_wait_s(300, took_s)
    assert wait_s == pytest.approx(expected_s)
    assert took_s / (took_s + wait_s) <= 0.1 + 1e-9
