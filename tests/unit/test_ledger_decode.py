"""The ledger's one-pass reading of a posting batch agrees with the contract's models, or leaves the
message to them.

What the native path (msgspec) accepts, the models accept too, with the same
entries and the same content hash (stored: it never changes); a message it does
not accept is read by the models, whose refusals name the posting, the field
and the rule, as before.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.posting_structs import canonical_timestamp
from contracts.postings import POSTING_NAMESPACE, PostingBatch, PostingRequested, entry_id_for
from services.ledger.domain import journal
from services.ledger.domain.errors import MalformedPosting, UnbalancedEntry
from services.ledger.domain.journal import Entry, Line, content_hash_of, entry_from_request, read_message

KINDS = (
    "sale",
    "sale_lease",
    "sale_suspense",
    "cancellation",
    "refund",
    "recovery",
    "deposit_release",
    "release_cancelled",
    "suspense_return",
)
ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40)
accounts = st.from_regex(r"[A-Za-z0-9._:-]{1,30}", fullmatch=True)


@st.composite
def timestamps(draw) -> str:
    """RFC 3339 texts as producers write them: any fraction of 0 to 7 digits, Z or an offset, or a space."""
    moment = draw(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    digits = draw(st.integers(0, 7))
    if digits:
        text += "." + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=digits, max_size=digits)))
    offset = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00", "+02:00", "-05:30", "+14:00", "", "+0200"]))
    return draw(st.sampled_from([text + offset, text.replace("T", " ") + offset]))


@st.composite
def postings(draw, number: int) -> dict:
    currencies = draw(st.lists(st.sampled_from(["EUR", "USD", "XTS"]), min_size=1, max_size=3, unique=True))
    lines = []
    for currency in currencies:
        amount = draw(st.integers(1, 2**40))
        lines.append({"account": draw(accounts), "currency": currency, "debit": amount, "credit": 0})
        lines.append({"account": draw(accounts), "currency": currency, "debit": 0, "credit": amount})
    caused_by = draw(st.uuids())
    return {
        "posting_key": f"{draw(ascii_text)}:{number}",
        "kind": draw(st.sampled_from(KINDS)),
        "subject": draw(ascii_text),
        "effective_at": draw(timestamps()),
        "caused_by": draw(st.sampled_from([str(caused_by), str(caused_by).upper(), caused_by.hex])),
        **({"reverses": draw(st.none() | ascii_text)} if draw(st.booleans()) else {}),
        "lines": draw(st.permutations(lines)),
    }


def by_the_models(value: bytes) -> list[Entry]:
    """Today's reading: the contract's models, then an entry of each request (content_hash_of)."""
    return [entry_from_request(request) for request in PostingBatch.model_validate_json(value).postings]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 10**6), min_size=1, max_size=6, unique=True).flatmap(
        lambda numbers: st.tuples(*(postings(n) for n in numbers))
    )
)
def test_the_native_path_gives_the_entries_and_content_hashes_of_the_models(items):
    value = json.dumps({"postings": list(items)}, separators=(",", ":")).encode()
    try:
        expected = by_the_models(value)
    except ValueError:  # the models refuse it (a text they do not read as a time): so must the native path
        assert journal._read_natively(value, journal.BATCH_DECODER) is None
        return
    native = journal._read_natively(value, journal.BATCH_DECODER)
    if (
        native is None
    ):  # left to the models (a timestamp not in a form it puts in canonical form): same result
        native, refused = read_message(b"batch", value)
        assert not refused
    assert native == expected
    assert [entry.content_hash for entry in native] == [entry.content_hash for entry in expected]


def test_a_batch_as_the_streams_write_it_is_read_natively_with_the_models_content_hashes():
    items = [
        {
            "posting_key": f"sale:S-1:BAT-{n}",
            "kind": "sale",
            "subject": f"BAT-{n}",
            "caused_by": str(uuid.uuid4()),
            "reverses": None,
            "effective_at": (datetime(2026, 12, 1, tzinfo=UTC) + timedelta(microseconds=n)).isoformat(),
            "lines": [
                {"account": "clearing:store:s-1", "currency": "EUR", "debit": 5800, "credit": 0},
                {"account": "liability:deposits", "currency": "EUR", "debit": 0, "credit": 5000},
                {"account": "fund:recycling", "currency": "EUR", "debit": 0, "credit": 800},
            ],
        }
        for n in range(250)
    ]
    value = json.dumps({"postings": items}).encode()
    native = journal._read_natively(value, journal.BATCH_DECODER)
    assert native is not None and native == by_the_models(value)
    requests = PostingBatch.model_validate_json(value).postings
    assert [entry.content_hash for entry in native] == [content_hash_of(request) for request in requests]


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("2026-12-01T11:00:00+00:00", "2026-12-01T11:00:00Z"),
        ("2026-12-01T11:00:00.5Z", "2026-12-01T11:00:00.500000Z"),
        ("2026-12-01T11:00:00.000000-00:00", "2026-12-01T11:00:00Z"),
        ("2026-12-01T11:00:00.123456+05:30", "2026-12-01T11:00:00.123456+05:30"),
        ("2026-12-01 11:00:00Z", None),
        ("2026-12-01T11:00:00", None),
        ("2026-12-01T11:00:00.1234567Z", None),
    ],
)
def test_a_timestamp_in_the_canonical_form_of_the_models_json_dump(text, canonical):
    assert canonical_timestamp(text) == canonical
    if canonical is not None:
        model = PostingRequested.model_validate(
            {
                "posting_key": "k",
                "kind": "sale",
                "subject": "s",
                "caused_by": str(uuid.UUID(int=1)),
                "effective_at": text,
                "lines": [
                    {"account": "a", "currency": "EUR", "debit": 1, "credit": 0},
                    {"account": "b", "currency": "EUR", "debit": 0, "credit": 1},
                ],
            }
        )
        assert model.model_dump(mode="json")["effective_at"] == canonical


def _batch(*changes: tuple[int, dict]) -> bytes:
    items = [
        {
            "posting_key": f"k:{n}",
            "kind": "sale",
            "subject": f"BAT-{n}",
            "caused_by": str(uuid.UUID(int=n)),
            "effective_at": "2026-12-01T11:00:00+00:00",
            "lines": [
                {"account": "cash", "currency": "EUR", "debit": 10, "credit": 0},
                {"account": "sales", "currency": "EUR", "debit": 0, "credit": 10},
            ],
        }
        for n in range(5)
    ]
    for index, change in changes:
        items[index] = {**items[index], **change}
    return json.dumps({"postings": items}).encode()


@pytest.mark.parametrize(
    "change, error",
    [
        (
            {
                "lines": [
                    {"account": "cash", "currency": "eur", "debit": 10, "credit": 0},
                    {"account": "sales", "currency": "EUR", "debit": 0, "credit": 10},
                ]
            },
            "postings[3]: lines.0.currency: String should match pattern '^[A-Z]{3}$'",
        ),
        (
            {
                "lines": [
                    {"account": "cash", "currency": "EUR", "debit": 10, "credit": 0},
                    {"account": "sales", "currency": "EUR", "debit": 0, "credit": 9},
                ]
            },
            "postings[3]: (posting): Value error, debits must equal credits per currency; off in EUR",
        ),
        (
            {
                "lines": [
                    {"account": "cash", "currency": "EUR", "debit": 10.0, "credit": 0},
                    {"account": "sales", "currency": "EUR", "debit": 0, "credit": 10},
                ]
            },
            "postings[3]: lines.0.debit: Input should be a valid integer",
        ),
        ({"kind": "gift"}, "postings[3]: kind: Input should be 'sale', 'sale_lease'"),
        ({"extra": 1}, "postings[3]: extra: Extra inputs are not permitted"),
        (
            {
                "lines": [
                    {"account": "has space", "currency": "EUR", "debit": 10, "credit": 0},
                    {"account": "sales", "currency": "EUR", "debit": 0, "credit": 10},
                ]
            },
            "postings[3]: account 'has space' is not 1 to 200 of A-Z a-z 0-9 . _ : -",
        ),
    ],
)
def test_a_posting_the_native_path_refuses_is_refused_by_the_models_naming_the_field_and_the_rule(
    change, error
):
    entries, refused = read_message(b"batch", _batch((3, change)))
    assert [entry.posting_key for entry in entries] == ["k:0", "k:1", "k:2", "k:4"]
    [refusal] = refused
    assert isinstance(refusal, MalformedPosting) and str(refusal).startswith(f"malformed_posting: {error}")


def test_a_message_not_plain_ascii_is_read_by_the_models_with_the_same_content_hash():
    value = _batch((2, {"subject": 'BAT-\u00e9\\"2'}))
    assert journal._read_natively(value, journal.BATCH_DECODER) is None
    entries, refused = read_message(b"batch", value)
    assert not refused and entries == by_the_models(value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_the_hot_paths_uuid5_is_the_standard_one(key):
    assert journal.entry_id_of(key) == entry_id_for(key) == uuid.uuid5(POSTING_NAMESPACE, f"entry:{key}")
    made = journal.posted_event_id_for(key)
    assert made == uuid.uuid5(POSTING_NAMESPACE, "entry.posted:" + key)
    assert (made.version, made.variant, str(made), hash(made)) == (
        5,
        uuid.RFC_4122,
        str(uuid.UUID(str(made))),
        hash(uuid.UUID(str(made))),
    )


@pytest.mark.parametrize(
    "lines, refusal, text",
    [
        (
            (Line("a", "EUR", 10, 0), Line("b", "EUR", 0, 9)),
            UnbalancedEntry,
            "debits differ from credits in EUR",
        ),
        ((Line("a", "EUR", 10, 0),), UnbalancedEntry, "differ"),
        ((Line("a", "EUR", 10, 0), Line("b", "EUR", 0, 10)) * 9, MalformedPosting, "at most 16 lines"),
        ((Line("a", "eur", 10, 0), Line("b", "eur", 0, 10)), MalformedPosting, "three capital letters"),
        (
            (Line("a", "EUR", 10, 10), Line("b", "EUR", 0, 0)),
            MalformedPosting,
            "exactly one of debit and credit",
        ),
        (
            (Line("a", "EUR", -1, 0), Line("b", "EUR", 0, -1)),
            MalformedPosting,
            "is not 0 to 2\\^63-1 minor units",
        ),
        ((Line("", "EUR", 1, 0), Line("b", "EUR", 0, 1)), MalformedPosting, "is not 1 to 200"),
    ],
)
def test_an_entry_is_refused_by_the_rules_the_database_checks(lines, refusal, text):
    with pytest.raises(refusal, match=text):
        Entry.with_lines(
            entry_id_for("k"),
            "k",
            "sale",
            "s",
            uuid.UUID(int=1),
            None,
            datetime(2026, 1, 1, tzinfo=UTC),
            lines,
            b"h",
        )


def test_an_entry_in_several_currencies_balances_in_each():
    lines = (Line("a", "EUR", 10, 0), Line("b", "USD", 0, 3), Line("c", "EUR", 0, 10), Line("d", "USD", 3, 0))
    made = Entry.with_lines(
        entry_id_for("k"),
        "k",
        "sale",
        "s",
        uuid.UUID(int=1),
        None,
        datetime(2026, 1, 1, tzinfo=UTC),
        lines,
        b"h",
    )
    assert made.lines == lines and made.is_balanced()
    with pytest.raises(UnbalancedEntry, match="USD"):
        Entry.with_lines(
            entry_id_for("k"),
            "k",
            "sale",
            "s",
            uuid.UUID(int=1),
            None,
            datetime(2026, 1, 1, tzinfo=UTC),
            lines[:3] + (Line("d", "USD", 4, 0),),
            b"h",
        )
