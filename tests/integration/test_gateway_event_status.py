"""Contract 8.2 over real HTTP against the real stack: `Prefer: wait=N` answers what the scheme decided, and
`GET /v1/events/{event_id}` reads it back, for the source that sent the event and finance only."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from services.common.channels import INBOX_CHANNEL, inbox_payload_outcomes
from services.gateway.adapters.event_records import PostgresEventRecords
from services.gateway.domain.event_status import InboxRecord
from tests.conftest import envelope, unique, wait_for
from tests.integration.scheme import Scheme, item
from tests.integration.test_gateway_support import (  # noqa: F401
    bearer,
    gateway,
    gateway_url,
    http,
    new_key,
    unknown_transfer,
)

JSON = {"Content-Type": "application/json"}
WAIT_S = 10


def wait(seconds: int = WAIT_S) -> dict[str, str]:
    return {"Prefer": f"wait={seconds}"}


@pytest.fixture
async def store(new_key):
    store_id = unique("store")
    return store_id, await new_key("pos", store_id)


@pytest.fixture
async def centre(new_key):
    centre_id = unique("centre")
    return centre_id, await new_key("return_centre", centre_id)


async def post(http, key: str, event: dict, prefer: dict | None = None):
    return await http.post("/v1/events", json=event, headers={**bearer(key), **JSON, **(prefer or {})})


def collection(centre_id: str, serial: str, refund: dict | None = None) -> dict:
    data = {"collection_id": unique("C"), "centre_id": centre_id, "serial": serial, "condition": "damaged"}
    if refund is not None:
        data["refund"] = refund
    return envelope("collection.logged", "return_centre", centre_id, data)


async def sold(http, store, battery: dict) -> str:
    """The battery sold by the store, applied (over HTTP, waiting for it)."""
    store_id, key = store
    event = envelope(
        "sale.recorded",
        "pos",
        store_id,
        {"sale_id": unique("S"), "store_id": store_id, "currency": "EUR", "items": [battery]},
    )
    response = await post(http, key, event, wait())
    assert response.status_code == 200, response.text
    assert response.json() == {
        "event_id": event["event_id"],
        "status": "applied",
        "outcome": {"event_type": "sale.recorded"},
    }
    assert response.headers["Preference-Applied"] == f"wait={WAIT_S}"
    return battery["serial"]


async def decided(http, centre, event: dict) -> dict:
    response = await post(http, centre[1], event, wait())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["event_id"] == event["event_id"]
    return body


async def test_a_deposit_battery_collected_answers_its_refund_at_the_counter(http, store, centre):
    # a sku of its own: no terms, so no handling fee (a fee from terms is test_scheme_finance's)
    serial = await sold(http, store, item(unique("BAT"), deposit=5000, sku=unique("SKU")))
    body = await decided(http, centre, collection(centre[0], serial, {"method": "card"}))
    assert (body["status"], body["outcome"]) == (
        "applied",
        {
            "state": "collected",
            "refund": {"amount": 5000, "currency": "EUR", "method": "card"},
            "handling_fee": 0,
            "taken_back": "refunded",
        },
    )


async def test_a_leased_battery_collected_closes_the_lease_without_refund(http, store, centre):
    serial = await sold(http, store, item(unique("BAT"), deposit=0, contract="lease", sku=unique("SKU")))
    body = await decided(http, centre, collection(centre[0], serial))
    assert (body["status"], body["outcome"]) == (
        "applied",
        {"state": "collected", "refund": None, "handling_fee": 0, "taken_back": "lease_closed"},
    )


async def test_an_orphan_is_taken_back_free(http, centre):
    body = await decided(http, centre, collection(centre[0], unique("OLD")))
    assert (body["status"], body["outcome"]) == (
        "applied",
        {"state": "collected", "refund": None, "handling_fee": 0, "taken_back": "taken_back_free"},
    )


async def test_a_battery_already_returned_is_rejected_with_reason_and_message(http, centre):
    serial = unique("OLD")
    assert (await decided(http, centre, collection(centre[0], serial)))["status"] == "applied"
    body = await decided(http, centre, collection(centre[0], serial, {"method": "cash"}))
    assert body["status"] == "rejected"
    assert body["outcome"]["reason"] == "already_returned"
    assert serial in body["outcome"]["message"]


async def test_a_transfer_of_a_battery_the_scheme_does_not_know_is_rejected(http, new_key):
    haulier = unique("haul")
    key = await new_key("transporter", haulier)
    serial = unique("NONE")
    event = unknown_transfer(haulier, serial)
    response = await post(http, key, event, wait())
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert response.json()["outcome"]["reason"] == "unknown_battery"
    assert response.json()["outcome"]["message"]


async def test_a_duplicate_answers_the_first_outcome_and_other_content_under_its_id_is_a_conflict(
    http, store, centre
):
    serial = await sold(http, store, item(unique("BAT"), deposit=4200))
    event = collection(centre[0], serial, {"method": "voucher"})
    first = await decided(http, centre, event)
    assert first["outcome"]["refund"] == {"amount": 4200, "currency": "EUR", "method": "voucher"}
    assert await decided(http, centre, event) == first
    other = {**event, "data": {**event["data"], "condition": "functional"}}
    conflict = await decided(http, centre, other)
    assert (conflict["status"], conflict["outcome"]["reason"]) == ("rejected", "event_id_conflict")
    assert (await http.get(f"/v1/events/{event['event_id']}", headers=bearer(centre[1]))).json() == first


@pytest.mark.parametrize(
    "prefer", ["wait=0", "wait=11", "wait=1.5", "wait=abc", "respond-async", "wait=5, x=1"]
)
async def test_a_bad_prefer_is_refused_naming_the_header_and_the_rule_and_nothing_is_sent(
    http, centre, prefer
):
    event = collection(centre[0], unique("OLD"))
    response = await post(http, centre[1], event, {"Prefer": prefer})
    assert response.status_code == 400, response.text
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [("header.Prefer", "prefer_wait")]
    assert "1 to 10" in response.json()["errors"][0]["message"]
    assert (await http.get(f"/v1/events/{event['event_id']}", headers=bearer(centre[1]))).status_code == 404


async def test_without_prefer_the_answer_is_202_and_the_status_is_read_back(http, centre):
    event = collection(centre[0], unique("OLD"))
    response = await post(http, centre[1], event)
    assert (response.status_code, response.json()) == (
        202,
        {"event_id": event["event_id"], "status": "accepted"},
    )
    assert "Preference-Applied" not in response.headers

    async def applied():
        body = (await http.get(f"/v1/events/{event['event_id']}", headers=bearer(centre[1]))).json()
        return body if body["status"] == "applied" else None

    assert (await wait_for(applied))["outcome"]["taken_back"] == "taken_back_free"


async def test_when_the_wait_expires_the_answer_is_202_after_n_seconds_and_the_event_reads_accepted(
    http, centre, owner_pool
):
    event = collection(centre[0], unique("OLD"))
    async with owner_pool.acquire() as connection, connection.transaction():
        await connection.execute("LOCK TABLE scheme.inbox IN EXCLUSIVE MODE")  # no outcome can be recorded
        started = time.monotonic()
        response = await post(http, centre[1], event, wait(1))
        elapsed_s = time.monotonic() - started
        assert (response.status_code, response.json()) == (
            202,
            {"event_id": event["event_id"], "status": "accepted"},
        )
        assert response.headers["Preference-Applied"] == "wait=1"
        assert 1.0 <= elapsed_s < 2.5, elapsed_s
        status = await http.get(f"/v1/events/{event['event_id']}", headers=bearer(centre[1]))
        assert (status.status_code, status.json()) == (
            200,
            {"event_id": event["event_id"], "status": "accepted", "outcome": None},
        )
    late = await decided(http, centre, event)  # the same event again: its outcome once it is applied
    assert (late["status"], late["outcome"]["taken_back"]) == ("applied", "taken_back_free")


async def test_an_event_is_readable_by_its_sender_and_finance_and_unknown_to_any_other_key(
    http, centre, new_key
):
    event = collection(centre[0], unique("OLD"))
    body = await decided(http, centre, event)
    path = f"/v1/events/{event['event_id']}"
    finance = await new_key("finance", unique("finance"))
    assert (await http.get(path, headers=bearer(centre[1]))).json() == body
    assert (await http.get(path, headers=bearer(finance))).json() == body
    other_centre = await new_key("return_centre", unique("centre"))
    same_kind_same_id_other_key = await new_key("return_centre", centre[0])
    assert (await http.get(path, headers=bearer(same_kind_same_id_other_key))).json() == body
    for key in (other_centre, await new_key("pos", centre[0])):
        hidden = await http.get(path, headers=bearer(key))
        never_seen = await http.get(f"/v1/events/{uuid.uuid4()}", headers=bearer(key))
        assert (hidden.status_code, hidden.json()["error"]) == (404, "unknown_event")
        assert never_seen.status_code == 404
        assert hidden.json()["message"].replace(event["event_id"], "") == never_seen.json()[
            "message"
        ].replace(never_seen.url.path.rsplit("/", 1)[1], "")


@pytest.mark.parametrize(
    "text", ["not-a-uuid", "2b7c1f0e5d0a4b539a8e3c1f2d9e8a11", "2b7c1f0e-5d0a-4b53-9a8e"]
)
async def test_an_event_id_that_is_not_a_uuid_is_refused_naming_the_parameter(http, centre, text):
    response = await http.get(f"/v1/events/{text}", headers=bearer(centre[1]))
    assert response.status_code == 400, response.text
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [("path.event_id", "uuid")]


async def test_many_requests_waiting_at_once_are_each_answered_with_their_own_outcome(http, centre):
    events = [collection(centre[0], unique("OLD")) for _ in range(50)]
    bodies = await asyncio.gather(*(decided(http, centre, event) for event in events))
    assert {b["event_id"] for b in bodies} == {e["event_id"] for e in events}
    assert all(b["outcome"]["taken_back"] == "taken_back_free" for b in bodies)


# -- events a source produced straight to Kafka (not over HTTP): the streams record the event's source --


async def status_for(http, key: str, event: dict):
    return await http.get(f"/v1/events/{event['event_id']}", headers=bearer(key))


async def test_a_sale_produced_to_kafka_is_readable_by_its_store_and_finance_only(
    http, producer, pool, new_key
):
    scheme = Scheme(producer, pool)
    own, other, finance = (
        await new_key("pos", scheme.store),
        await new_key("pos", unique("store")),
        await new_key("finance", unique("finance")),
    )
    sale_id = unique("S")
    sale = await scheme.sale([item(unique("BAT"))], sale_id=sale_id)
    again = await scheme.sale([item(unique("BAT"))], sale_id=sale_id)
    await scheme.applied(sale)
    await scheme.rejected(again, "duplicate_sale")

    applied = await status_for(http, own, sale)
    assert (applied.status_code, applied.json()) == (
        200,
        {"event_id": sale["event_id"], "status": "applied", "outcome": {"event_type": "sale.recorded"}},
    )
    rejected = await status_for(http, own, again)
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["event_id"], rejected.json()["status"]) == (again["event_id"], "rejected")
    assert rejected.json()["outcome"]["reason"] == "duplicate_sale"
    assert sale_id in rejected.json()["outcome"]["message"]
    for event, body in ((sale, applied.json()), (again, rejected.json())):
        assert (await status_for(http, finance, event)).json() == body
        hidden = await status_for(http, other, event)
        assert (hidden.status_code, hidden.json()["error"]) == (404, "unknown_event")
        same_id_other_kind = await status_for(http, await new_key("return_centre", scheme.store), event)
        assert same_id_other_kind.status_code == 404


async def test_an_event_rejected_before_it_could_be_read_is_readable_by_finance_only(
    http, producer, pool, new_key
):
    scheme = Scheme(producer, pool)
    # an event_id, but no valid envelope (no occurred_at): rejected before its source could be read
    event = envelope("sale.recorded", "pos", scheme.store, {"sale_id": unique("S")})
    del event["occurred_at"]
    await scheme.emit(event, key=scheme.store)
    await scheme.rejected(event, "schema_violation")
    finance = await status_for(http, await new_key("finance", unique("finance")), event)
    assert (finance.status_code, finance.json()["status"]) == (200, "rejected")
    assert finance.json()["outcome"]["reason"] == "schema_violation"
    hidden = await status_for(http, await new_key("pos", scheme.store), event)
    assert (hidden.status_code, hidden.json()["error"]) == (404, "unknown_event")


async def test_the_outcomes_a_batch_notifies_are_those_read_back_from_the_scheme(
    http, store, centre, owner_pool
):
    """The gateway answers a waiting request from the outcome the batch's notification carries: for each
    kind of outcome it is the one `GET /v1/events/{id}` reads from the scheme's tables."""
    carried: dict[uuid.UUID, tuple] = {}

    def heard(_connection, _pid, _channel, payload: str) -> None:
        found = inbox_payload_outcomes(payload)
        if found is not None:
            carried.update(found[0])

    listener = await owner_pool.acquire()
    await listener.add_listener(INBOX_CHANNEL, heard)
    try:
        deposit = await sold(http, store, item(unique("BAT"), deposit=5000, sku=unique("SKU")))
        lease = await sold(http, store, item(unique("BAT"), deposit=0, contract="lease", sku=unique("SKU")))
        orphan = unique("OLD")
        events = [
            collection(centre[0], deposit, {"method": "card"}),
            collection(centre[0], lease),
            collection(centre[0], orphan),
            collection(centre[0], orphan, {"method": "cash"}),  # already returned: rejected
        ]
        bodies = [await decided(http, centre, event) for event in events]
        assert [body["status"] for body in bodies] == ["applied", "applied", "applied", "rejected"]
        ids = [uuid.UUID(event["event_id"]) for event in events]
        read_back = await PostgresEventRecords(owner_pool).outcomes(ids)
        heard_ids = [event_id for event_id in ids if event_id in carried]
        assert len(heard_ids) >= 3, "the notifications of these small batches carry their outcomes"
        for event_id in heard_ids:
            assert InboxRecord(event_id, *carried[event_id]) == read_back[event_id]
    finally:
        await listener.remove_listener(INBOX_CHANNEL, heard)
        await owner_pool.release(listener)
