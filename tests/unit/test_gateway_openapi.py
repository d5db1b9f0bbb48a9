"""The committed OpenAPI document is the app's, covers contract section 6, and states the rules the API
enforces."""

from __future__ import annotations

import json

import jsonschema_rs
import pytest

from contracts import topics
from services.gateway.openapi import DOCUMENT_PATH, render

CONTRACT_OPERATIONS = {
    ("post", "/v1/events"),
    ("get", "/v1/batteries/{serial}"),
    ("get", "/v1/finance/balances"),
    ("get", "/v1/finance/reconciliation"),
    ("get", "/v1/reports/collection"),
    ("get", "/v1/reports/recovery"),
    ("get", "/healthz"),
    ("get", "/metrics"),
}
EVENT_STATUS = {("get", "/v1/events/{event_id}")}  # contract 8.2
MONEY_CYCLE_READS = {("get", "/v1/finance/settlement"), ("get", "/v1/discrepancies")}  # contract 8.1
SECOND_LIFE_READS = {  # contract 8.3
    ("get", "/v1/batteries/{serial}/passport"),
    ("get", "/v1/reports/recycling-efficiency"),
}
REPORTS = {
    "/v1/finance/balances",
    "/v1/finance/reconciliation",
    "/v1/reports/collection",
    "/v1/reports/recovery",
    "/v1/finance/settlement",
    "/v1/discrepancies",
    "/v1/reports/recycling-efficiency",
}
RECONCILIATION_RUNS = {
    ("post", "/v1/finance/reconciliation/runs"),
    ("get", "/v1/finance/reconciliation/runs/{run_id}"),
}
UNAUTHENTICATED = {("get", "/healthz"), ("get", "/metrics")}


@pytest.fixture(scope="module")
def document():
    return json.loads(DOCUMENT_PATH.read_text())


def operations(document):
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_the_committed_document_is_not_stale():
    assert DOCUMENT_PATH.read_text() == render(), "run: python -m services.gateway.openapi"


def test_every_operation_of_the_contract_is_documented_with_its_refusals(document):
    assert (
        set(operations(document))
        == CONTRACT_OPERATIONS | RECONCILIATION_RUNS | EVENT_STATUS | MONEY_CYCLE_READS | SECOND_LIFE_READS
    )
    post = document["paths"]["/v1/events"]["post"]
    assert {"200", "202", "400", "401", "403", "413", "415", "429"} <= set(post["responses"])
    assert {"200", "400", "401", "404", "429"} <= set(
        document["paths"]["/v1/events/{event_id}"]["get"]["responses"]
    )
    assert len(post["requestBody"]["content"]["application/json"]["schema"]["oneOf"]) == len(
        topics.IN_EVENT_TYPES
    )
    assert not any("422" in item[m]["responses"] for item in document["paths"].values() for m in item)


def test_every_operation_with_a_key_declares_429_with_retry_after_and_401_with_its_challenge(document):
    for name, operation in operations(document).items():
        if name in UNAUTHENTICATED:
            continue
        assert operation["responses"]["429"]["headers"]["Retry-After"]["schema"] == {
            "type": "integer",
            "minimum": 1,
        }
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], name


def test_an_optional_parameter_is_never_null_and_an_instant_is_rfc_3339(document):
    parameters = {
        p["name"]: p["schema"] for o in operations(document).values() for p in o.get("parameters", [])
    }
    assert all("anyOf" not in schema for schema in parameters.values())
    instant = jsonschema_rs.validator_for(parameters["as_of"], validate_formats=True)
    assert instant.is_valid("2026-11-24T10:15:00+01:00") and instant.is_valid("2026-11-24T09:15:00Z")
    assert not any(
        instant.is_valid(text) for text in ("0.5", "1700000000", "2026-11-24T10:15:00", "2026-11-24")
    )
    assert parameters["year"] == {
        "description": "Calendar year, four digits (default: all years)",
        "maximum": 2100,
        "minimum": 2000,
        "title": "Year",
        "type": "integer",
    }


def test_prefer_states_its_rule_and_the_event_id_is_a_uuid(document):
    [prefer] = [
        p for p in operations(document)[("post", "/v1/events")]["parameters"] if p["name"] == "Prefer"
    ]
    assert prefer["in"] == "header" and not prefer.get("required", False)
    rule = jsonschema_rs.validator_for(prefer["schema"])
    assert all(rule.is_valid(text) for text in ("wait=1", "wait=10", ""))
    assert not any(
        rule.is_valid(text)
        for text in ("wait=0", "wait=11", "wait=1.5", "respond-async", "wait=", "wait = 5")
    )
    [event_id] = operations(document)[("get", "/v1/events/{event_id}")]["parameters"]
    assert event_id["in"] == "path" and event_id["schema"]["format"] == "uuid"


def _event_validator(document, name: str):
    return jsonschema_rs.validator_for(
        {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    )


def _collection(refund: dict) -> dict:
    return {
        "event_id": "2b7c1f0e-5d0a-4b53-9a8e-3c1f2d9e8a11",
        "type": "collection.logged",
        "version": 1,
        "occurred_at": "2026-01-01T00:00:00Z",
        "source": {"kind": "return_centre", "id": "centre-1"},
        "data": {
            "collection_id": "C-1",
            "centre_id": "centre-1",
            "serial": "BAT-1",
            "condition": "functional",
            "refund": refund,
        },
    }


@pytest.mark.parametrize(
    "refund, valid",
    [
        ({"method": "bank_transfer"}, False),
        ({"method": "bank_transfer", "payee_ref": None}, False),
        ({"method": "bank_transfer", "payee_ref": "IBAN-1"}, True),
        ({"method": "cash"}, True),
        ({"method": "cash", "payee_ref": None}, True),
    ],
)
def test_a_bank_transfer_refund_without_a_payee_is_invalid_in_the_schema_too(document, refund, valid):
    assert _event_validator(document, "CollectionLoggedEvent").is_valid(_collection(refund)) is valid


@pytest.mark.parametrize(
    "contract, deposit, valid", [("lease", 5000, False), ("lease", 0, True), ("deposit", 5000, True)]
)
def test_a_lease_with_a_deposit_is_invalid_in_the_schema_too(document, contract, deposit, valid):
    item = {
        "serial": "BAT-1",
        "sku": "EB-500",
        "category": "lmt",
        "chemistry": "li-ion-nmc",
        "mass_kg": 2.8,
        "contract": contract,
        "deposit": deposit,
        "recycling_fee": 800,
    }
    sale = {
        "event_id": "2b7c1f0e-5d0a-4b53-9a8e-3c1f2d9e8a11",
        "type": "sale.recorded",
        "version": 1,
        "occurred_at": "2026-01-01T00:00:00Z",
        "source": {"kind": "pos", "id": "store-1"},
        "data": {"sale_id": "S-1", "store_id": "store-1", "currency": "EUR", "items": [item]},
    }
    assert _event_validator(document, "SaleRecordedEvent").is_valid(sale) is valid


def test_every_report_answers_json_or_csv_and_documents_406(document):
    for path in REPORTS:
        responses = document["paths"][path]["get"]["responses"]
        assert {"application/json", "text/csv"} <= set(responses["200"]["content"]), path
        assert "406" in responses, path
