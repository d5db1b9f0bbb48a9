"""The native one-pass reading of an event in agrees with the contract's models, or leaves the event to them.

What the fast path accepts, the models accept too, with the same values and
the same content hash; whatever it does not accept, the models read (and name
the field and the rule).
"""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC
from decimal import Decimal

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from contracts import topics
from contracts.events import ContractViolation, canonical_hash, load_json, parse_event
from contracts.structs import read_event
from contracts.types import MONEY_MINOR_UNITS_MAX
from services.bench import scenario
from tests.unit.test_contracts import event as example

IN_TYPES = topics.IN_EVENT_TYPES


def plain(value):
    """Both kinds of event as nested dicts of (type, repr) leaves: 2.8 and 2.80 differ, as they would in
    a row."""
    if isinstance(value, msgspec.Struct):
        return {name: plain(getattr(value, name)) for name in value.__struct_fields__}
    if isinstance(value, BaseModel):
        return {name: plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return type(value).__name__, repr(value)


def slow(raw: bytes):
    """What the models make of `raw`: (event, content hash), or the violation."""
    try:
        obj = load_json(raw)
        return parse_event(obj), canonical_hash(obj)
    except (ContractViolation, ValueError) as error:
        return error


def assert_agrees(raw: bytes) -> bool:
    """If the fast path reads `raw`, the models read it the same; True if the fast path read it."""
    fast = read_event(raw)
    if fast is None:
        return False
    models = slow(raw)
    assert not isinstance(models, Exception), f"the fast path accepted what the models refuse: {models}"
    assert plain(fast[0]) == plain(models[0])
    assert fast[1] == models[1]
    return True


def bench_events() -> list[bytes]:
    names = scenario.Names("RUN-1")
    return [
        scenario.encode(make())
        for _, phase in scenario.PHASES
        for _, _, make in list(phase(names, range(0, 200)))[:3]
    ]


CORPUS = (
    [json.dumps(example(t)).encode() for t in IN_TYPES]
    + [json.dumps(example(t), indent=2).encode() for t in IN_TYPES]
    + bench_events()
)


@pytest.mark.parametrize("raw", CORPUS, ids=lambda raw: json.loads(raw)["type"])
def test_a_valid_event_reads_the_same_on_both_paths(raw):
    assert assert_agrees(raw)


def lease_sale(**item) -> dict:
    raw = example("sale.recorded")
    raw["data"]["items"][0].update(item)
    return raw


@pytest.mark.parametrize(
    "raw",
    [
        lease_sale(contract="lease", deposit=0),
        lease_sale(mass_kg=3),
        lease_sale(mass_kg=123456789012345678901234567890),
        lease_sale(mass_kg=0.0001),
        lease_sale(mass_kg=9999999999999998.0),
        example(
            "collection.logged",
            data={**example("collection.logged")["data"], "refund": None, "mass_kg": None},
        ),
        example("lot.received", data={**example("lot.received")["data"], "serials_received": []}),
    ],
    ids=[
        "lease",
        "integer mass",
        "huge integer mass",
        "small mass",
        "large mass",
        "nulls",
        "nothing received",
    ],
)
def test_edges_that_are_valid_read_the_same_on_both_paths(raw):
    assert assert_agrees(json.dumps(raw).encode())


def test_a_sale_whose_total_does_not_fit_is_left_to_the_models_which_name_the_rule():
    raw = lease_sale(deposit=MONEY_MINOR_UNITS_MAX, recycling_fee=1)
    assert read_event(json.dumps(raw).encode()) is None
    refused = slow(json.dumps(raw).encode())
    assert isinstance(refused, ContractViolation)
    assert [e["rule"] for e in refused.errors] == ["sale_total"]
    at_limit = lease_sale(deposit=MONEY_MINOR_UNITS_MAX - 1, recycling_fee=1)
    assert assert_agrees(json.dumps(at_limit).encode())


@pytest.mark.parametrize("mass", [1e-05, 1e16, 2.5e-7])
def test_a_mass_whose_json_differs_in_native_code_is_left_to_the_models(mass):
    raw = json.dumps(lease_sale(mass_kg=mass)).encode()
    assert read_event(raw) is None
    assert not isinstance(slow(raw), Exception)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "a": 2}',
        json.dumps(example("sale.recorded")).encode().replace(b'"version": 1', b'"version": 1, "version": 1'),
        json.dumps(example("sale.recorded"))
        .encode()
        .replace(b'"deposit": 5000', b'"deposit": 5000, "deposit": 5000'),
        json.dumps(example("lot.dispatched"))
        .encode()
        .replace(b'"lot_id": "L-12"', b'"lot_id": "L:1", "lot_id": "L-12"'),
    ],
    ids=["top", "envelope", "item", "with a colon in the dropped value"],
)
def test_a_repeated_key_is_never_read_by_the_fast_path(raw):
    assert read_event(raw) is None
    assert slow(raw).reason == "invalid_json"


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e["data"]["items"][0].update(serial="BAT 1"),
        lambda e: e["data"]["items"][0].update(sku=""),
        lambda e: e["data"]["items"][0].update(serial="x" * 65),
        lambda e: e["data"]["items"][0].update(deposit=50.0),
        lambda e: e["data"]["items"][0].update(deposit=True),
        lambda e: e["data"]["items"][0].update(deposit=2**63),
        lambda e: e["data"]["items"][0].update(mass_kg=0),
        lambda e: e["data"]["items"][0].update(mass_kg="2.8"),
        lambda e: e["data"]["items"][0].update(contract="lease"),
        lambda e: e["data"]["items"].append(e["data"]["items"][0]),
        lambda e: e.update(version=True),
        lambda e: e.update(version=1.0),
        lambda e: e.update(occurred_at="2026-11-24"),
        lambda e: e.update(occurred_at="2026-13-24T10:15:00Z"),
        lambda e: e.update(event_id="2b7c1f0e5d0a4b539a8e3c1f2d9e8a11"),
        lambda e: e["data"].update(currency="eur"),
        lambda e: e["data"].update(surprise=1),
        lambda e: e.update(surprise=1),
        lambda e: e["source"].update(kind="scheme"),
        lambda e: e["data"].update(items=[]),
        lambda e: e["data"].pop("currency"),
        lambda e: e.update(type="refund.instructed"),
    ],
    ids=lambda change: "",
)
def test_what_the_models_refuse_the_fast_path_does_not_read(change):
    raw = example("sale.recorded")
    change(raw)
    encoded = json.dumps(raw).encode()
    assert read_event(encoded) is None
    assert isinstance(slow(encoded), ContractViolation)


@pytest.mark.parametrize(
    "field,value",
    [
        ("serials", ["BAT-1", "BAT 2"]),
        ("serials", ["BAT-1", "BAT-1"]),
        ("serials", ["BAT-1", ""]),
        ("serials", []),
        ("gross_mass_kg", -1),
    ],
)
def test_a_bad_serial_in_a_lot_is_left_to_the_models(field, value):
    raw = example("lot.dispatched")
    raw["data"][field] = value
    encoded = json.dumps(raw).encode()
    assert read_event(encoded) is None
    assert isinstance(slow(encoded), ContractViolation)


def test_escapes_and_text_beyond_ascii_are_left_to_the_models():
    raw = example("sale.cancelled")
    raw["data"]["reason"] = "changed mind é"
    assert read_event(json.dumps(raw, ensure_ascii=False).encode()) is None
    assert read_event(json.dumps(raw).encode()) is None  # \u00e9
    assert not isinstance(slow(json.dumps(raw).encode()), Exception)


# Mutations of valid events: a leaf replaced, a key dropped or added, a key repeated in the text.
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=70),
    st.sampled_from(
        [
            "",
            "EUR",
            "lease",
            "deposit",
            "BAT-1",
            "BAT 1",
            "2026-11-24T10:15:00Z",
            "cash",
            "bank_transfer",
            "in_use",
            "lmt",
            "lithium",
            "pos",
            "recycler",
            "return_centre",
            "sale.recorded",
            "x" * 65,
        ]
    ),
)


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from paths(inner, (*prefix, index))


def mutate(obj: dict, rng: random.Random, leaf) -> bytes:
    obj = copy.deepcopy(obj)
    target = rng.choice([p for p in paths(obj) if p])
    parent = obj
    for part in target[:-1]:
        parent = parent[part]
    action = rng.randrange(4)
    if action == 0:
        parent[target[-1]] = leaf
    elif action == 1 and isinstance(parent, dict):
        del parent[target[-1]]
    elif action == 2 and isinstance(parent, dict):
        parent[rng.choice(["surprise", "refund", "customer_ref", "contract", "mass_kg"])] = leaf
    else:
        text = json.dumps(obj)
        key = json.dumps(target[-1]) if isinstance(target[-1], str) else '"type"'
        return text.replace(f"{key}: ", f"{key}: {json.dumps(leaf)}, {key}: ", 1).encode()
    return json.dumps(obj, ensure_ascii=rng.random() < 0.8).encode()


SEEDS = [json.loads(raw) for raw in CORPUS]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), leaf=JSON_LEAVES, choice=st.randoms(use_true_random=False))
def test_the_fast_path_never_reads_what_the_models_refuse(seed, leaf, choice):
    assert_agrees(mutate(seed, choice, leaf))


@settings(max_examples=500, deadline=None)
@given(mass=st.floats(min_value=1e-300, max_value=1e300))
def test_any_mass_hashes_the_same_on_both_paths(mass):
    raw = lease_sale(mass_kg=mass)
    raw["data"]["items"][0]["contract"] = "deposit"
    accepted = assert_agrees(json.dumps(raw).encode())
    assert accepted == (1e-4 <= mass < 1e16)
    if accepted:
        assert read_event(json.dumps(raw).encode())[0].data.items[0].mass_kg == Decimal(str(mass))


def test_a_number_beyond_a_double_is_refused_as_invalid_json_not_left_to_stall_the_partition():
    from datetime import datetime

    from streams.service_layer.batch import Message, decode

    raw = json.dumps(lease_sale(mass_kg=2.8)).encode().replace(b"2.8", b"1e400")
    decoded = decode(Message(topics.SALES, 0, 7, b"S-1001", raw), datetime.now(UTC))
    assert (decoded.event, decoded.violation.reason) == (None, "invalid_json")


@pytest.mark.parametrize(
    "spelling",
    [
        b"2.80",
        b"28e-1",
        b"0.28E+1",
        b"2.8000000000000001",
        b"3",
        b"-0.0",
        b"1E2",
        b"123456789012345678901234567890",
        b"0.000012",
    ],
)
def test_a_number_spelled_any_way_hashes_the_same_on_both_paths(spelling):
    raw = json.dumps(lease_sale(mass_kg=2.8)).encode().replace(b'"mass_kg": 2.8', b'"mass_kg": ' + spelling)
    assert spelling in raw
    if read_event(raw) is not None:
        assert assert_agrees(raw)
    else:
        assert spelling in (b"-0.0", b"0.000012")  # refused by the models, or read by them only


@pytest.mark.parametrize(
    "sold_before, readable", [("2026-11-24T09:15:00Z", True), ("2026-11-24T09:15:01Z", False)]
)
def test_a_release_sold_before_after_its_event_is_left_to_the_models(sold_before, readable):
    raw = example("deposits.released")
    raw["data"]["sold_before"] = sold_before
    assert assert_agrees(json.dumps(raw).encode()) is readable


@pytest.mark.parametrize(
    "change",
    [
        {"handling_fee": 120},
        {"handling_fee": 0},
    ],
)
def test_terms_with_a_handling_fee_read_the_same_on_both_paths(change):
    raw = example("terms.published")
    raw["data"].update(change)
    assert assert_agrees(json.dumps(raw).encode())


@pytest.mark.parametrize("value_date", ["2026-02-30", "2026-1-30", "20261130"])
def test_a_value_date_that_is_not_a_calendar_date_is_never_read_by_the_fast_path(value_date):
    raw = example("payment.recorded")
    raw["data"]["value_date"] = value_date
    assert read_event(json.dumps(raw).encode()) is None
    assert isinstance(slow(json.dumps(raw).encode()), ContractViolation)


def with_data(event_type: str, **data) -> bytes:
    raw = example(event_type)
    raw["data"].update(data)
    return json.dumps(raw).encode()


@pytest.mark.parametrize(
    "raw",
    [
        with_data("collection.logged", state_of_health_pct=0, country="DE"),
        with_data("collection.logged", state_of_health_pct=100),
        with_data("collection.logged", state_of_health_pct=None, country=None),
        with_data("sale.recorded", country="FR"),
        with_data("terms.published", reuse_min_pct=90, repurpose_min_pct=70),
        with_data("terms.published", reuse_min_pct=60, repurpose_min_pct=60),
        with_data("terms.published", reuse_min_pct=60),  # below the repurpose default: any order is valid
        with_data("terms.published", repurpose_min_pct=86),  # above the reuse default
        with_data("terms.published", reuse_min_pct=50, repurpose_min_pct=60),
        with_data("terms.published", reuse_min_pct=0, repurpose_min_pct=100),
        with_data("recovery.confirmed", output_mass_kg=300.5),
        with_data("recovery.confirmed", output_mass_kg=409.8),
        with_data("battery.repurposed", application="vehicle"),
    ],
)
def test_contract_8_3_fields_that_are_valid_read_the_same_on_both_paths(raw):
    assert assert_agrees(raw)


@pytest.mark.parametrize(
    "raw",
    [
        with_data("collection.logged", state_of_health_pct=101),
        with_data("collection.logged", state_of_health_pct=-1),
        with_data("collection.logged", state_of_health_pct=80.0),
        with_data("collection.logged", state_of_health_pct=True),
        with_data("collection.logged", country="de"),
        with_data("sale.recorded", country="DEU"),
        with_data("terms.published", reuse_min_pct=101),
        with_data("terms.published", repurpose_min_pct=-1),
        with_data("terms.published", reuse_min_pct=60.0),
        with_data("terms.published", repurpose_min_pct=True),
        with_data("recovery.confirmed", output_mass_kg=409.9),
        with_data("battery.repurposed", application="museum"),
        with_data("battery.repurposed", operator_id="op 2"),
    ],
)
def test_contract_8_3_fields_the_models_refuse_are_never_read_by_the_fast_path(raw):
    assert read_event(raw) is None
    assert isinstance(slow(raw), ContractViolation)
