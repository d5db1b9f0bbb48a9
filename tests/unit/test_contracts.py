"""The wire contract: the examples of spec/contract.md parse, and bad input is named."""

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts import generate, topics
from contracts.data_in import sale_total
from contracts.events import (
    ContractViolation,
    SaleRecordedEvent,
    canonical_hash,
    check_not_in_future,
    check_source,
    dump_event,
    key_of,
    parse_event,
)
from contracts.types import MONEY_MINOR_UNITS_MAX
from services.ledger.adapters import events as ledger_events

EVENT_ID = "2b7c1f0e-5d0a-4b53-9a8e-3c1f2d9e8a11"
CAUSE_ID = "7d2b9c44-1a6e-4f0b-8c3d-5e6f7a8b9c0d"
SCHEME = {"kind": "scheme", "id": "takeback-streams"}
EXAMPLES = {  # type: (source, data), as in the contract
    "sale.recorded": (
        {"kind": "pos", "id": "store-042"},
        {
            "sale_id": "S-1001",
            "store_id": "store-042",
            "currency": "EUR",
            "customer_ref": "c-9f2a",
            "items": [
                {
                    "serial": "BAT-000001",
                    "sku": "EB-500",
                    "category": "lmt",
                    "chemistry": "li-ion-nmc",
                    "mass_kg": 2.8,
                    "deposit": 5000,
                    "recycling_fee": 800,
                    "contract": "deposit",
                }
            ],
        },
    ),
    "sale.cancelled": (
        {"kind": "pos", "id": "store-042"},
        {
            "sale_id": "S-1001",
            "store_id": "store-042",
            "serials": ["BAT-000001"],
            "reason": "customer_withdrew",
        },
    ),
    "collection.logged": (
        {"kind": "return_centre", "id": "centre-7"},
        {
            "collection_id": "C-77",
            "centre_id": "centre-7",
            "serial": "BAT-000001",
            "condition": "damaged",
            "mass_kg": 2.7,
            "refund": {"method": "bank_transfer", "payee_ref": "c-9f2a"},
        },
    ),
    "custody.transferred": (
        {"kind": "return_centre", "id": "centre-7"},
        {
            "serial": "BAT-000001",
            "from": {"kind": "return_centre", "id": "centre-7"},
            "to": {"kind": "transporter", "id": "haul-3"},
            "reason": "transport",
        },
    ),
    "lot.dispatched": (
        {"kind": "return_centre", "id": "centre-7"},
        {
            "lot_id": "L-12",
            "centre_id": "centre-7",
            "recycler_id": "rec-1",
            "serials": ["BAT-000001"],
            "gross_mass_kg": 410.5,
        },
    ),
    "lot.received": (
        {"kind": "recycler", "id": "rec-1"},
        {
            "lot_id": "L-12",
            "recycler_id": "rec-1",
            "serials_received": ["BAT-000001"],
            "gross_mass_kg": 409.8,
        },
    ),
    "recovery.confirmed": (
        {"kind": "recycler", "id": "rec-1"},
        {
            "lot_id": "L-12",
            "recycler_id": "rec-1",
            "input_mass_kg": 409.8,
            "recovered": [{"material": "lithium", "mass_kg": 6.1}, {"material": "cobalt", "mass_kg": 14.2}],
            "cost": 61000,
            "currency": "EUR",
        },
    ),
    "terms.published": (
        {"kind": "finance", "id": "fin-1"},
        {
            "sku": "EB-500",
            "deposit": 5000,
            "recycling_fee": 800,
            "currency": "EUR",
            "effective_from": "2026-01-01T00:00:00Z",
        },
    ),
    "payment.recorded": (
        {"kind": "finance", "id": "fin-1"},
        {
            "payment_id": "P-2026-11-30-0042",
            "counterparty": {"kind": "store", "id": "store-042"},
            "amount": 1250000,
            "currency": "EUR",
            "value_date": "2026-11-30",
            "reference": "SEPA 8812",
        },
    ),
    "deposits.released": (
        {"kind": "finance", "id": "fin-1"},
        {"release_id": "R-2026", "currency": "EUR", "sold_before": "2023-12-01T00:00:00Z"},
    ),
    "discrepancy.resolved": (
        {"kind": "finance", "id": "fin-1"},
        {
            "discrepancy_id": "0d4b2c1e-7a5f-4e3b-9c8d-1f2e3a4b5c6d",
            "resolution": "returned_to_store",
            "note": "credit note 17",
        },
    ),
    "battery.repurposed": (
        {"kind": "second_life", "id": "op-2"},
        {"serial": "BAT-000001", "operator_id": "op-2", "application": "stationary_storage"},
    ),
    "battery.routed": (
        SCHEME,
        {"serial": "BAT-000001", "route": "repurpose", "state_of_health_pct": 72, "caused_by": CAUSE_ID},
    ),
    "discrepancy.resolved.out": (
        SCHEME,
        {
            "discrepancy_id": "0d4b2c1e-7a5f-4e3b-9c8d-1f2e3a4b5c6d",
            "kind": "serial_already_in_market",
            "resolution": "returned_to_store",
            "caused_by": CAUSE_ID,
        },
    ),
    "refund.instructed": (
        SCHEME,
        {
            "refund_id": "R-1",
            "serial": "BAT-000001",
            "centre_id": "centre-7",
            "amount": 5000,
            "currency": "EUR",
            "method": "bank_transfer",
            "payee_ref": None,
            "caused_by": CAUSE_ID,
        },
    ),
    "entry.posted": (
        SCHEME,
        {
            "entry_id": "E-1",
            "kind": "sale_item",
            "caused_by": CAUSE_ID,
            "lines": [
                {"account": "clearing:store:store-042", "debit": 5800, "credit": 0, "currency": "EUR"},
                {"account": "liability:deposits", "debit": 0, "credit": 5000, "currency": "EUR"},
                {"account": "fund:recycling", "debit": 0, "credit": 800, "currency": "EUR"},
            ],
        },
    ),
    "event.rejected": (
        SCHEME,
        {
            "rejected_event_id": None,
            "topic": "takeback.sales",
            "partition": 0,
            "offset": 42,
            "reason": "invalid_json",
            "message": "not JSON",
            "original": "{",
        },
    ),
    "discrepancy.opened": (
        SCHEME,
        {
            "discrepancy_id": "D-1",
            "kind": "mass_mismatch",
            "subject": "L-12",
            "details": {"dispatched_kg": 410.5},
            "caused_by": CAUSE_ID,
        },
    ),
    "reconciliation.completed": (
        {"kind": "scheme", "id": "ledger"},
        {
            "run_id": EVENT_ID,
            "status": "balanced",
            "as_of": "2026-11-24T09:15:00+00:00",
            "checks": [
                {
                    "name": "deposit_liability",
                    "ok": True,
                    "expected": {"EUR": 5000},
                    "actual": {"EUR": 5000},
                    "details": {"ledger": {"EUR": 5000}, "in_flight": {}, "difference": {}},
                }
            ],
            "open_discrepancies": [],
            "open_discrepancies_by_kind": {},
        },
    ),
}


def event(event_type: str, **changes) -> dict:
    source, data = copy.deepcopy(EXAMPLES[event_type])
    envelope = {
        "event_id": EVENT_ID,
        "type": topics.wire_type(event_type),
        "version": 1,
        "occurred_at": "2026-11-24T10:15:00+01:00",
        "source": source,
        "data": data,
    }
    envelope.update(changes)
    return envelope


def violation(raw) -> ContractViolation:
    with pytest.raises(ContractViolation) as caught:
        parse_event(raw if isinstance(raw, bytes) else json.dumps(raw).encode())
    return caught.value


@pytest.mark.parametrize("event_type", topics.IN_EVENT_TYPES)
def test_every_example_in_parses_checks_and_round_trips(event_type):
    parsed = parse_event(json.dumps(event(event_type)).encode())
    check_source(parsed)
    assert parsed.type == event_type
    assert key_of(parsed) == event(event_type)["data"][topics.KEY_FIELD_OF_TYPE[event_type]]
    assert parse_event(dump_event(parsed)) == parsed


@pytest.mark.parametrize("event_type", topics.OUT_EVENT_TYPES)
def test_every_event_out_parses_with_the_whole_catalogue(event_type):
    parsed = parse_event(json.dumps(event(event_type)).encode(), topics.EVENT_TYPES)
    check_source(parsed)
    assert parse_event(dump_event(parsed), topics.EVENT_TYPES) == parsed


def test_masses_are_exact_decimals_and_json_numbers_on_the_way_out():
    parsed = parse_event(json.dumps(event("sale.recorded")).encode())
    assert isinstance(parsed, SaleRecordedEvent)
    assert parsed.data.items[0].mass_kg == Decimal("2.8")
    assert b'"mass_kg":2.8' in dump_event(parsed)


@pytest.mark.parametrize("amount", [50.5, 50.0, "50", True, -1])
def test_an_amount_that_is_not_a_non_negative_integer_is_named(amount):
    raw = event("sale.recorded")
    raw["data"]["items"][0]["deposit"] = amount
    error = violation(raw)
    assert error.reason == "schema_violation"
    assert error.event_id is not None and str(error.event_id) == EVENT_ID
    assert [e["field"] for e in error.errors] == ["data.items.0.deposit"]
    assert error.message.startswith("data.items.0.deposit: must be")


def test_the_message_names_the_rule_and_the_value():
    raw = event("sale.recorded")
    raw["data"]["items"][0]["deposit"] = 50.5
    assert (
        violation(raw).message == "data.items.0.deposit: must be an integer number of minor units (got 50.5)"
    )


@pytest.mark.parametrize("mass", ["2.8", True, 0, -1.5])
def test_a_mass_must_be_a_positive_json_number(mass):
    raw = event("lot.dispatched")
    raw["data"]["gross_mass_kg"] = mass
    assert violation(raw).errors[0]["rule"] == "mass"


def test_a_lease_with_a_deposit_is_refused_and_without_one_accepted():
    raw = event("sale.recorded")
    raw["data"]["items"][0]["contract"] = "lease"
    error = violation(raw)
    assert error.errors[0]["field"] == "data.items.0.deposit"
    assert "deposit must be 0 for a lease" in error.message
    raw["data"]["items"][0]["deposit"] = 0
    assert parse_event(json.dumps(raw).encode()).data.items[0].contract == "lease"


@pytest.mark.parametrize(
    "occurred_at", ["2026-11-24T10:15:00", "2026-11-24", "2026-13-24T10:15:00Z", 1764000000]
)
def test_occurred_at_needs_an_rfc3339_timestamp_with_an_offset(occurred_at):
    error = violation(event("sale.recorded", occurred_at=occurred_at))
    assert [e["field"] for e in error.errors] == ["occurred_at"]


@pytest.mark.parametrize("serial", ["", "BAT 1", "BAT/1", "x" * 65, 17])
def test_a_bad_identifier_is_named(serial):
    raw = event("collection.logged")
    raw["data"]["serial"] = serial
    assert [(e["field"], e["rule"]) for e in violation(raw).errors] == [("data.serial", "identifier")]


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe{}", b"[1, 2]", b'{"a": NaN}', b'{"a": 1, "a": 2}'])
def test_unreadable_input_is_invalid_json(raw):
    assert violation(raw).reason == "invalid_json"


@pytest.mark.parametrize("event_type", ["sale.refunded", "refund.instructed"])
def test_a_type_outside_the_catalogue_of_events_in_is_unknown(event_type):
    error = violation(event("sale.recorded", type=event_type))
    assert (error.reason, str(error.event_id)) == ("unknown_type", EVENT_ID)


def test_every_failing_field_is_named():
    raw = event("sale.recorded", version=2, event_id="not-a-uuid")
    raw["data"]["items"][0].update(deposit="50", category="car", surprise=1)
    del raw["data"]["currency"]
    error = violation(raw)
    assert error.event_id is None
    assert {e["field"] for e in error.errors} == {
        "event_id",
        "version",
        "data.currency",
        "data.items.0.category",
        "data.items.0.deposit",
        "data.items.0.surprise",
    }
    assert all(e["field"] in error.message for e in error.errors)


def test_repeated_serials_in_a_sale_are_refused():
    raw = event("sale.recorded")
    raw["data"]["items"].append(raw["data"]["items"][0])
    assert violation(raw).errors[0] == {
        "field": "data.items",
        "rule": "unique",
        "message": "must not repeat a serial (repeated: BAT-000001)",
    }


@pytest.mark.parametrize(
    ("amounts", "accepted"),
    [
        ([(MONEY_MINOR_UNITS_MAX, MONEY_MINOR_UNITS_MAX)], False),  # one item: its store debit overflows
        ([(MONEY_MINOR_UNITS_MAX - 1, 1)], True),  # one item, deposit and fee exactly at the limit
        ([(MONEY_MINOR_UNITS_MAX // 2, 0), (MONEY_MINOR_UNITS_MAX // 2 + 1, 0)], True),
        ([(MONEY_MINOR_UNITS_MAX // 2, 1), (MONEY_MINOR_UNITS_MAX // 2, 1)], False),  # the items together
    ],
    ids=["one item over", "one item at", "items at", "items over"],
)
def test_a_sale_whose_deposits_and_fees_add_up_beyond_64_bits_is_refused_naming_the_rule(amounts, accepted):
    """Its store is debited every item's deposit plus recycling fee: that total must fit an amount too."""
    raw = event("sale.recorded")
    first = raw["data"]["items"][0]
    raw["data"]["items"] = [
        {**first, "serial": f"BAT-{n}", "deposit": deposit, "recycling_fee": fee}
        for n, (deposit, fee) in enumerate(amounts)
    ]
    total = sum(deposit + fee for deposit, fee in amounts)
    assert (total <= MONEY_MINOR_UNITS_MAX) == accepted  # the cases straddle the limit as their ids say
    if accepted:
        assert sale_total(parse_event(json.dumps(raw).encode()).data.items) == total
        return
    error = violation(raw)
    assert error.reason == "schema_violation"
    assert [(e["field"], e["rule"]) for e in error.errors] == [("data.items", "sale_total")]
    assert f"at most {MONEY_MINOR_UNITS_MAX} minor units" in error.errors[0]["message"]


def test_bank_transfer_needs_a_payee():
    raw = event("collection.logged")
    del raw["data"]["refund"]["payee_ref"]
    assert violation(raw).errors[0]["field"] == "data.refund.payee_ref"


def test_a_source_that_may_not_send_the_type_is_a_mismatch():
    parsed = parse_event(json.dumps(event("lot.received", source={"kind": "return_centre", "id": "rec-1"})))
    with pytest.raises(ContractViolation, match="source.kind") as caught:
        check_source(parsed)
    assert caught.value.reason == "source_mismatch"


def test_a_field_that_is_not_the_source_id_is_a_mismatch():
    parsed = parse_event(json.dumps(event("sale.recorded", source={"kind": "pos", "id": "store-043"})))
    with pytest.raises(ContractViolation, match="data.store_id") as caught:
        check_source(parsed)
    assert caught.value.reason == "source_mismatch"


def test_more_than_five_minutes_ahead_is_in_the_future():
    parsed = parse_event(json.dumps(event("terms.published")))
    now = datetime(2026, 11, 24, 9, 10, tzinfo=UTC)  # occurred_at is 09:15 UTC
    check_not_in_future(parsed, now)
    with pytest.raises(ContractViolation) as caught:
        check_not_in_future(parsed, now - timedelta(seconds=1))
    assert caught.value.reason == "occurred_in_future"


def test_an_unbalanced_entry_is_refused():
    raw = event("entry.posted")
    raw["data"]["lines"][0]["debit"] = 5700
    with pytest.raises(ContractViolation) as caught:
        parse_event(json.dumps(raw), topics.EVENT_TYPES)
    assert caught.value.errors[0]["rule"] == "balanced"


def test_a_line_with_both_debit_and_credit_is_refused():
    raw = event("entry.posted")
    raw["data"]["lines"][0]["credit"] = 1
    with pytest.raises(ContractViolation) as caught:
        parse_event(json.dumps(raw), topics.EVENT_TYPES)
    assert caught.value.errors[0] == {
        "field": "data.lines.0",
        "rule": "one_sided",
        "message": "exactly one of debit and credit must be > 0",
    }


def test_the_ledgers_reconciliation_completed_parses_with_the_whole_catalogue():
    run_id = uuid.uuid4()
    result = {
        "status": "discrepancies",
        "as_of": "2026-11-24T09:15:00.123456+00:00",
        "checks": [
            {"name": "entries_balanced", "ok": True, "expected": 0, "actual": 0, "details": {}},
            {
                "name": "deposit_liability",
                "ok": False,
                "expected": {"EUR": 5000},
                "actual": {"EUR": 4200},
                "details": {"ledger": {"EUR": 4200}, "in_flight": {}, "difference": {"EUR": -800}},
            },
        ],
        "open_discrepancies": [
            {
                "discrepancy_id": "D-1",
                "kind": "mass_mismatch",
                "subject": "L-12",
                "details": {"dispatched_kg": 410.5},
                "caused_by": CAUSE_ID,
                "opened_at": "2026-11-24T09:00:00+00:00",
            }
        ],
        "open_discrepancies_by_kind": {"mass_mismatch": 1},
    }
    message = ledger_events.reconciliation_completed(run_id, result)
    parsed = parse_event(message.value, types=topics.EVENT_TYPES)
    check_source(parsed)
    assert (parsed.type, parsed.data.run_id, parsed.event_id) == ("reconciliation.completed", run_id, run_id)
    assert [check.ok for check in parsed.data.checks] == [True, False]
    assert (message.topic, message.key) == (topics.TOPIC_OF_TYPE[parsed.type], key_of(parsed))
    raw = json.loads(message.value)
    raw["data"]["status"] = "balanced"  # yet a check failed
    with pytest.raises(ContractViolation) as caught:
        parse_event(raw, types=topics.EVENT_TYPES)
    assert caught.value.errors[0]["rule"] == "status_of_checks"


def test_the_content_hash_ignores_key_order_and_spacing():
    raw = event("sale.recorded")
    reordered = json.loads(json.dumps(dict(reversed(list(raw.items())))))
    assert canonical_hash(raw) == canonical_hash(reordered)
    assert canonical_hash(raw) != canonical_hash(event("sale.recorded", version=2))


def test_the_generated_schemas_and_asyncapi_are_up_to_date():
    assert generate.stale_files() == [], "run: python -m contracts.generate"


# Contract 8.1: finance's new events.


def test_finance_events_travel_on_the_finance_topic_under_their_keys():
    assert {
        topics.TOPIC_OF_TYPE[t] for t in ("payment.recorded", "deposits.released", "discrepancy.resolved")
    } == {topics.FINANCE}
    assert topics.FINANCE in topics.INPUT_TOPICS
    assert topics.TOPIC_OF_TYPE[topics.DISCREPANCY_RESOLVED_OUT] == topics.DISCREPANCIES
    out = parse_event(json.dumps(event("discrepancy.resolved.out")), topics.EVENT_TYPES)
    assert out.type == "discrepancy.resolved" and key_of(out) == out.data.discrepancy_id


def test_a_release_sold_before_after_the_event_is_a_schema_violation_naming_the_field():
    raw = event("deposits.released")
    raw["data"]["sold_before"] = "2026-11-24T09:15:01Z"  # one second after occurred_at (10:15+01:00)
    error = violation(raw)
    assert error.reason == "schema_violation"
    assert [e["field"] for e in error.errors] == ["data.sold_before"]
    raw["data"]["sold_before"] = "2026-11-24T09:15:00Z"  # at occurred_at: allowed
    assert parse_event(json.dumps(raw)).data.sold_before.isoformat() == "2026-11-24T09:15:00+00:00"


@pytest.mark.parametrize(
    "event_type, path, value, rule",
    [
        ("payment.recorded", ("counterparty", "kind"), "customer", "one_of"),
        ("payment.recorded", ("amount",), -1, "money"),
        ("payment.recorded", ("amount",), 12.5, "money"),
        ("payment.recorded", ("value_date",), "2026-11-31", "date"),
        ("payment.recorded", ("value_date",), "2026-11-30T00:00:00Z", "date"),
        ("discrepancy.resolved", ("resolution",), "forgiven", "one_of"),
        ("terms.published", ("handling_fee",), -5, "money"),
        ("terms.published", ("handling_fee",), "120", "money"),
    ],
)
def test_bad_finance_fields_are_named(event_type, path, value, rule):
    raw = event(event_type)
    target = raw["data"]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    error = violation(raw)
    assert error.reason == "schema_violation"
    assert [(e["field"], e["rule"]) for e in error.errors] == [("data." + ".".join(path), rule)]


def test_handling_fee_defaults_to_zero_and_a_payment_reference_is_optional():
    assert parse_event(json.dumps(event("terms.published"))).data.handling_fee == 0
    raw = event("payment.recorded")
    del raw["data"]["reference"]
    assert parse_event(json.dumps(raw)).data.reference is None


def test_finance_events_come_from_finance_only():
    parsed = parse_event(json.dumps(event("payment.recorded", source={"kind": "pos", "id": "store-042"})))
    with pytest.raises(ContractViolation) as caught:
        check_source(parsed)
    assert caught.value.reason == "source_mismatch"


# Contract 8.3: second life, grading, countries, recycling output.


def test_second_life_events_travel_on_their_topics_under_the_serial():
    assert topics.TOPIC_OF_TYPE[topics.BATTERY_REPURPOSED] == topics.CUSTODY
    assert topics.TOPIC_OF_TYPE[topics.BATTERY_ROUTED] == topics.ROUTING
    assert topics.ROUTING in topics.OUTPUT_TOPICS and topics.ROUTING not in topics.INPUT_TOPICS
    assert "second_life" in topics.SOURCE_KINDS
    assert topics.SOURCE_KINDS_OF_TYPE[topics.CUSTODY_TRANSFERRED] == topics.SOURCE_KINDS
    out = parse_event(json.dumps(event("battery.routed")), topics.EVENT_TYPES)
    assert (out.type, key_of(out), out.data.route) == ("battery.routed", "BAT-000001", "repurpose")


def test_a_repurposing_comes_from_the_operator_it_names():
    parsed = parse_event(
        json.dumps(event("battery.repurposed", source={"kind": "second_life", "id": "op-3"}))
    )
    with pytest.raises(ContractViolation, match="data.operator_id") as caught:
        check_source(parsed)
    assert caught.value.reason == "source_mismatch"
    parsed = parse_event(json.dumps(event("battery.repurposed", source={"kind": "recycler", "id": "op-2"})))
    with pytest.raises(ContractViolation, match="source.kind") as caught:
        check_source(parsed)


def test_a_second_life_operator_is_a_custody_party():
    raw = event("custody.transferred")
    raw["data"]["to"] = {"kind": "second_life", "id": "op-2"}
    raw["data"]["reason"] = "second_life"
    assert parse_event(json.dumps(raw)).data.to.kind == "second_life"


def test_the_new_optional_fields_default_to_none_and_the_thresholds_to_85_and_65():
    collection = parse_event(json.dumps(event("collection.logged"))).data
    assert (collection.state_of_health_pct, collection.country) == (None, None)
    assert parse_event(json.dumps(event("sale.recorded"))).data.country is None
    assert parse_event(json.dumps(event("recovery.confirmed"))).data.output_mass_kg is None
    terms = parse_event(json.dumps(event("terms.published"))).data
    assert (terms.reuse_min_pct, terms.repurpose_min_pct) == (85, 65)


def test_the_new_fields_are_read_as_given():
    raw = event("collection.logged")
    raw["data"].update(state_of_health_pct=0, country="DE")
    assert (parse_event(json.dumps(raw)).data.state_of_health_pct, raw["data"]["country"]) == (0, "DE")
    raw = event("terms.published")
    raw["data"].update(reuse_min_pct=90, repurpose_min_pct=90)
    assert parse_event(json.dumps(raw)).data.repurpose_min_pct == 90
    raw = event("recovery.confirmed")
    raw["data"]["output_mass_kg"] = 409.8  # all of the input: allowed
    assert parse_event(json.dumps(raw)).data.output_mass_kg == Decimal("409.8")


@pytest.mark.parametrize(
    "event_type, path, value, rule",
    [
        ("collection.logged", ("state_of_health_pct",), 101, "percent"),
        ("collection.logged", ("state_of_health_pct",), -1, "percent"),
        ("collection.logged", ("state_of_health_pct",), 80.0, "percent"),
        ("collection.logged", ("state_of_health_pct",), "80", "percent"),
        ("collection.logged", ("state_of_health_pct",), True, "percent"),
        ("collection.logged", ("country",), "de", "country"),
        ("collection.logged", ("country",), "DEU", "country"),
        ("sale.recorded", ("country",), "D", "country"),
        ("terms.published", ("reuse_min_pct",), 120, "percent"),
        ("terms.published", ("reuse_min_pct",), 101, "percent"),
        ("terms.published", ("reuse_min_pct",), -1, "percent"),
        ("terms.published", ("reuse_min_pct",), 60.0, "percent"),
        ("terms.published", ("repurpose_min_pct",), -5, "percent"),
        ("terms.published", ("repurpose_min_pct",), 101, "percent"),
        ("terms.published", ("repurpose_min_pct",), "65", "percent"),
        ("terms.published", ("repurpose_min_pct",), True, "percent"),
        ("recovery.confirmed", ("output_mass_kg",), 0, "mass"),
        ("battery.repurposed", ("application",), "museum", "one_of"),
    ],
)
def test_bad_second_life_fields_are_named(event_type, path, value, rule):
    raw = event(event_type)
    raw["data"][path[0]] = value
    error = violation(raw)
    assert error.reason == "schema_violation"
    assert [(e["field"], e["rule"]) for e in error.errors] == [("data." + ".".join(path), rule)]


@pytest.mark.parametrize(
    "given, kept",
    [
        ({"reuse_min_pct": 60}, (60, 65)),  # only reuse, below the repurpose default
        ({"repurpose_min_pct": 86}, (85, 86)),  # only repurpose, above the reuse default
        ({"reuse_min_pct": 70, "repurpose_min_pct": 71}, (70, 71)),
        ({"reuse_min_pct": 0, "repurpose_min_pct": 100}, (0, 100)),
        ({"reuse_min_pct": 100, "repurpose_min_pct": 0}, (100, 0)),
    ],
)
def test_the_thresholds_are_read_in_any_order(given, kept):
    """Contract 8.3: each an optional integer 0-100 (defaults 85 and 65), no order between them."""
    raw = event("terms.published")
    raw["data"].update(given)
    terms = parse_event(json.dumps(raw)).data
    assert (terms.reuse_min_pct, terms.repurpose_min_pct) == kept


def test_a_recycling_output_above_its_input_is_named():
    raw = event("recovery.confirmed")
    raw["data"]["output_mass_kg"] = 409.9
    assert violation(raw).errors == [
        {
            "field": "data.output_mass_kg",
            "rule": "not_above_input",
            "message": "must not be above input_mass_kg (409.8)",
        }
    ]
