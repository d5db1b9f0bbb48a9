"""`POST /v1/events` through real HTTP into the real Kafka: what is accepted is there, byte for byte;
what is refused is named field by field, and never reaches Kafka."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import jsonschema_rs
import pytest

from contracts import topics
from services.gateway.openapi import DOCUMENT_PATH
from tests.conftest import envelope, unique
from tests.integration.test_gateway_support import (  # noqa: F401
    TEST_BODY_MAX_BYTES,
    bearer,
    carrying,
    end_offsets,
    gateway,
    gateway_url,
    http,
    messages_since,
    new_key,
    sale,
)

JSON = {"Content-Type": "application/json"}


def json_bearer(key: str) -> dict[str, str]:
    return {**bearer(key), **JSON}


@pytest.fixture
async def store_key(new_key):
    store = unique("store")
    return store, await new_key("pos", store)


async def test_an_accepted_event_is_in_its_topic_under_its_key_byte_for_byte(http, settings, store_key):
    store, key = store_key
    event = sale(store)
    raw = json.dumps(event, indent=1).encode()  # not compact: the bytes must travel unchanged
    before = await end_offsets(settings, topics.SALES)
    response = await http.post("/v1/events", content=raw, headers=json_bearer(key))
    assert response.status_code == 202, response.text
    assert response.json() == {"event_id": event["event_id"], "status": "accepted"}
    [message] = carrying(await messages_since(settings, before), event["event_id"])
    assert (message.topic, message.key, message.value) == (
        topics.SALES,
        event["data"]["sale_id"].encode(),
        raw,
    )


async def test_a_schema_violation_names_every_failing_field_and_rule(http, store_key):
    store, key = store_key
    event = sale(store)
    event["version"] = 2
    event["data"]["currency"] = "euro"
    event["data"]["items"][0]["deposit"] = 50.0
    del event["data"]["items"][0]["sku"]
    event["data"]["items"][0]["colour"] = "red"
    response = await http.post("/v1/events", json=event, headers=json_bearer(key))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "schema_violation"
    assert {(e["field"], e["rule"]) for e in body["errors"]} == {
        ("version", "version"),
        ("data.currency", "currency"),
        ("data.items.0.deposit", "money"),
        ("data.items.0.sku", "required"),
        ("data.items.0.colour", "unknown_field"),
    }
    assert all(error["message"] for error in body["errors"])


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (json.dumps({"type": "battery.teleported"}).encode(), "unknown_type"),
        (json.dumps({"type": "refund.instructed"}).encode(), "unknown_type"),
    ],
)
async def test_what_is_not_an_event_in_is_400(http, store_key, raw, reason):
    response = await http.post("/v1/events", content=raw, headers=json_bearer(store_key[1]))
    assert (response.status_code, response.json()["error"]) == (400, reason), response.text


async def test_an_unknown_type_is_400_naming_the_type_field(http, store_key):
    """Contract 6: a 400 comes "with the failing fields", an unknown type's too."""
    store, key = store_key
    event = sale(store)
    event["type"] = "battery.teleported"
    response = await http.post("/v1/events", json=event, headers=json_bearer(key))
    body = response.json()
    assert (response.status_code, body["error"]) == (400, "unknown_type"), response.text
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [("type", "catalogue")]
    assert "battery.teleported" in body["errors"][0]["message"]


async def test_an_event_from_the_future_is_400_naming_occurred_at(http, store_key):
    store, key = store_key
    event = sale(store)
    event["occurred_at"] = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = await http.post("/v1/events", json=event, headers=json_bearer(key))
    body = response.json()
    assert (response.status_code, body["error"]) == (400, "occurred_in_future"), response.text
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [("occurred_at", "not_in_future")]
    assert event["occurred_at"] in body["errors"][0]["message"]


async def test_a_store_id_other_than_the_source_is_403_naming_the_field(http, store_key):
    store, key = store_key
    event = sale(store)
    event["data"]["store_id"] = unique("store")
    response = await http.post("/v1/events", json=event, headers=json_bearer(key))
    body = response.json()
    assert (response.status_code, body["error"]) == (403, "source_mismatch"), response.text
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [("data.store_id", "source_id")]


async def test_a_body_declared_too_large_is_413_before_it_is_read(gateway_url, store_key):
    host, port = gateway_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {store_key[1]}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {TEST_BODY_MAX_BYTES + 1}\r\n\r\n{{".encode()
    )
    await writer.drain()  # one byte of the body is sent; the rest never comes
    status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    writer.close()
    assert status_line.split()[1] == b"413"


async def test_a_chunked_body_that_grows_too_large_is_413(http, store_key):
    async def chunks():
        for _ in range(TEST_BODY_MAX_BYTES // 1024 + 2):
            yield b" " * 1024

    response = await http.post("/v1/events", content=chunks(), headers=json_bearer(store_key[1]))
    assert (response.status_code, response.json()["error"]) == (413, "too_large")


def _as_is(event: dict) -> bytes:
    return json.dumps(event).encode()


def _as_another_store(event: dict) -> bytes:
    return json.dumps({**event, "source": {"kind": "pos", "id": "someone-else"}}).encode()


def _with_a_bad_version(event: dict) -> bytes:
    return json.dumps({**event, "version": 7}).encode()


def _too_large(event: dict) -> bytes:
    return json.dumps(event).encode() + b" " * TEST_BODY_MAX_BYTES


REFUSED = {  # case: (the key sent, the body, the status)
    "no key": ("none", _as_is, 401),
    "revoked key": ("revoked", _as_is, 401),
    "another store": ("valid", _as_another_store, 403),
    "schema violation": ("valid", _with_a_bad_version, 400),
    "too large": ("valid", _too_large, 413),
}


@pytest.mark.parametrize("case", REFUSED)
async def test_nothing_of_a_refused_request_reaches_kafka(http, settings, new_key, case):
    key_sent, body_of, status = REFUSED[case]
    store = unique("store")
    key = await new_key("pos", store, revoked=key_sent == "revoked")
    event = sale(store)
    before = await end_offsets(settings, topics.SALES)
    response = await http.post(
        "/v1/events", content=body_of(event), headers=JSON if key_sent == "none" else json_bearer(key)
    )
    assert response.status_code == status, response.text
    assert carrying(await messages_since(settings, before), event["event_id"]) == []


def _collection_with(centre: str, refund: dict) -> dict:
    return envelope(
        "collection.logged",
        "return_centre",
        centre,
        {
            "collection_id": unique("C"),
            "centre_id": centre,
            "serial": unique("BAT"),
            "condition": "functional",
            "refund": refund,
        },
    )


def _lease_with_a_deposit(store: str) -> dict:
    event = sale(store)
    event["data"]["items"][0].update(contract="lease", deposit=5000)
    return event


@pytest.mark.parametrize("case", ["bank_transfer without payee_ref", "lease with a deposit"])
async def test_what_the_api_refuses_the_openapi_document_calls_invalid(http, new_key, case):
    """The rules the contract's models check across fields are in the document too (if/then), so a client
    validating against the document is refused for nothing it could not have known."""
    source = unique("centre" if case.startswith("bank") else "store")
    if case.startswith("bank"):
        key, event, schema_name = (
            await new_key("return_centre", source),
            _collection_with(source, {"method": "bank_transfer"}),
            "CollectionLoggedEvent",
        )
    else:
        key, event, schema_name = (
            await new_key("pos", source),
            _lease_with_a_deposit(source),
            "SaleRecordedEvent",
        )
    response = await http.post("/v1/events", json=event, headers=json_bearer(key))
    assert (response.status_code, response.json()["error"]) == (400, "schema_violation"), response.text
    document = json.loads(DOCUMENT_PATH.read_text())
    validator = jsonschema_rs.validator_for(
        {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    )
    assert not validator.is_valid(event)
