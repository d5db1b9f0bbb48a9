"""The pipeline's promises: rejections with reasons, idempotency, no stalled partition."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from contracts import topics
from tests.conftest import envelope, send, unique
from tests.integration.scheme import Scheme, item


@pytest.fixture
def scheme(producer, pool):
    return Scheme(producer, pool)


def rejection_of(reader, original_contains: str):
    return reader.find(lambda m: isinstance(m, dict) and original_contains in m["data"]["original"])


async def test_a_value_that_is_not_json_is_rejected_with_its_raw_value(producer, topic_reader):
    marker = unique("garbage")
    async with topic_reader(topics.REJECTIONS) as rejections:
        await send(producer, topics.SALES, "k", f"{{not json {marker}".encode())
        rejected = await rejection_of(rejections, marker)
    data = rejected["data"]
    assert (data["reason"], data["rejected_event_id"], data["topic"]) == ("invalid_json", None, topics.SALES)
    assert data["original"] == f"{{not json {marker}"
    assert rejected["type"] == "event.rejected" and rejected["source"]["kind"] == "scheme"


async def test_a_value_that_is_not_utf8_is_rejected_with_its_value_in_base64(producer, topic_reader):
    raw = b"\xff\xfe" + unique("bin").encode()
    async with topic_reader(topics.REJECTIONS) as rejections:
        await send(producer, topics.CUSTODY, "k", raw)
        rejected = await rejections.find(
            lambda m: isinstance(m, dict) and m["data"]["original"] == base64.b64encode(raw).decode()
        )
    assert rejected["data"]["reason"] == "invalid_json"


async def test_a_schema_violation_names_the_field_and_the_rule(scheme, topic_reader):
    event = envelope(
        "sale.recorded",
        "pos",
        scheme.store,
        {"sale_id": unique("S"), "store_id": scheme.store, "currency": "EUR", "items": [item(unique("BAT"))]},
    )
    event["data"]["items"][0]["deposit"] = 50.5
    async with topic_reader(topics.REJECTIONS) as rejections:
        await scheme.emit(event)
        await scheme.rejected(event, "schema_violation")
        rejected = await rejections.find(lambda m: m["data"]["rejected_event_id"] == event["event_id"])
    assert "data.items.0.deposit" in rejected["data"]["message"]


async def test_an_unknown_type_is_rejected(scheme):
    event = envelope("battery.teleported", "pos", scheme.store, {"sale_id": "x"})
    await send(scheme.producer, topics.SALES, "x", event)
    await scheme.rejected(event, "unknown_type")


async def test_a_source_that_may_not_send_the_type_or_speaks_for_another_is_rejected(scheme):
    wrong_kind = envelope(
        "sale.recorded",
        "recycler",
        scheme.store,
        {"sale_id": unique("S"), "store_id": scheme.store, "currency": "EUR", "items": [item(unique("BAT"))]},
    )
    other_store = envelope(
        "sale.recorded",
        "pos",
        "store-other",
        {"sale_id": unique("S"), "store_id": scheme.store, "currency": "EUR", "items": [item(unique("BAT"))]},
    )
    for event in (wrong_kind, other_store):
        await scheme.emit(event)
        await scheme.rejected(event, "source_mismatch")


async def test_an_event_from_the_future_is_rejected(scheme):
    later = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    serial = unique("BAT")
    event = envelope(
        "collection.logged",
        "return_centre",
        scheme.centre,
        {"collection_id": "C", "centre_id": scheme.centre, "serial": serial, "condition": "functional"},
        occurred_at=later,
    )
    await scheme.emit(event)
    await scheme.rejected(event, "occurred_in_future")
    assert await scheme.battery(serial) is None


async def test_a_duplicate_event_id_changes_nothing(scheme, pool):
    serial = unique("BAT")
    sale = await scheme.sale([item(serial)])
    await scheme.applied(sale)
    await scheme.emit(sale)
    marker = await scheme.collect(unique("BAT"))  # same kind of traffic after it: the duplicate was read
    await scheme.applied(marker)
    assert await pool.fetchval("SELECT count(*) FROM scheme.custody_history WHERE serial = $1", serial) == 1
    assert await pool.fetchval("SELECT count(*) FROM scheme.postings WHERE subject = $1", serial) == 1


async def test_the_same_event_id_with_other_content_is_an_event_id_conflict(scheme, topic_reader):
    serial = unique("BAT")
    sale = await scheme.sale([item(serial)])
    await scheme.applied(sale)
    forged = json.loads(json.dumps(sale))
    forged["data"]["items"][0]["deposit"] = 1
    async with topic_reader(topics.REJECTIONS) as rejections:
        await scheme.emit(forged)
        rejected = await rejections.find(
            lambda m: (
                m["data"]["rejected_event_id"] == sale["event_id"]
                and m["data"]["reason"] == "event_id_conflict"
            )
        )
    assert json.loads(rejected["data"]["original"])["data"]["items"][0]["deposit"] == 1
    assert (await scheme.battery(serial))["deposit_charged"] == 5000


async def test_a_poison_message_does_not_stall_its_partition(scheme):
    serial = unique("BAT")
    for _ in range(3):
        await send(scheme.producer, topics.COLLECTIONS, serial, b"\x00poison")
    collection = await scheme.collect(serial)  # same key, so the same partition, behind the poison
    await scheme.applied(collection)


async def test_a_discrepancy_goes_out_on_its_topic(scheme, topic_reader):
    known = unique("BAT")
    await scheme.applied(await scheme.sale([item(known)]))
    async with topic_reader(topics.DISCREPANCIES) as discrepancies:
        sale = await scheme.sale([item(known)])
        opened = await discrepancies.find(lambda m: m["data"]["subject"] == known)
    assert opened["data"]["kind"] == "serial_already_in_market"
    assert opened["data"]["caused_by"] == sale["event_id"]
