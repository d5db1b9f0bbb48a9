"""Several gateway worker processes on one port (`TAKEBACK_GATEWAY_WORKERS`), over real HTTP on the real
stack: every worker answers, and whichever answers gives the same answer (202, `Prefer: wait`,
`GET /v1/events/{id}`, a duplicate's first decision, a revoked key refused within 5 s, `/metrics` counting for
the whole gateway)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import httpx
import pytest

from contracts.topics import TOPIC_OF_TYPE
from services.gateway.service_layer.authentication import KEY_CACHE_TTL_S
from tests.conftest import envelope, unique
from tests.integration.test_gateway_support import (  # noqa: F401
    bearer,
    end_offsets,
    gateway,
    gateway_url,
    messages_since,
    new_key,
)

WORKERS = 2
GATEWAY_ENV = {
    "TAKEBACK_GATEWAY_WORKERS": str(WORKERS),
    # The revoked key's refusals are failed authentications from 127.0.0.1: without room for them the
    # address would be locked out (429) for whichever test runs next. The lockout has its own tests.
    "TAKEBACK_HTTP_AUTH_FAILURE_BURST": "100000",
}
JSON = {"Content-Type": "application/json"}
WAIT = {"Prefer": "wait=10"}
REQUESTS = 120
CONNECTIONS = 50
REVOKED_WITHIN_S = 5.0  # issue 15: a revoked key is refused within 5 s


@pytest.fixture
async def fresh(gateway_url):
    """A client that opens a new connection per request, so requests land on any worker."""
    limits = httpx.Limits(max_keepalive_connections=0, max_connections=REQUESTS)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30.0, limits=limits) as client:
        yield client


@pytest.fixture
async def centre(new_key):
    centre_id = unique("centre")
    return centre_id, await new_key("return_centre", centre_id)


def collection(centre_id: str, serial: str | None = None) -> dict:
    return envelope(
        "collection.logged",
        "return_centre",
        centre_id,
        {
            "collection_id": unique("C"),
            "centre_id": centre_id,
            "serial": serial or unique("OLD"),
            "condition": "damaged",
        },
    )


async def post(client, key: str, event: dict, prefer: dict | None = None) -> httpx.Response:
    return await client.post("/v1/events", json=event, headers={**bearer(key), **JSON, **(prefer or {})})


def answering_workers(gateway) -> Counter:
    """Requests to /v1/events by the worker process that answered them (from the access log)."""
    lines = [json.loads(line) for line in gateway.log_path.read_text().splitlines() if line.startswith("{")]
    return Counter(
        line["pid"]
        for line in lines
        if line.get("event") == "http_request" and line.get("path", "").startswith("/v1/events")
    )


async def test_every_worker_answers_and_each_accepts_and_reads_back_alike(gateway, fresh, centre):
    events = [collection(centre[0]) for _ in range(REQUESTS)]
    answers = await asyncio.gather(*[post(fresh, centre[1], event) for event in events])
    assert [(a.status_code, a.json()) for a in answers] == [
        (202, {"event_id": e["event_id"], "status": "accepted"}) for e in events
    ]
    reads = await asyncio.gather(
        *[
            fresh.get(f"/v1/events/{events[0]['event_id']}", headers=bearer(centre[1]))
            for _ in range(REQUESTS // 4)
        ]
    )
    assert {read.status_code for read in reads} == {200}
    assert {
        (read.json()["event_id"], read.json()["status"] in ("accepted", "applied")) for read in reads
    } == {(events[0]["event_id"], True)}
    workers = answering_workers(gateway)
    print(f"\n{REQUESTS} events and {REQUESTS // 4} reads over new connections, by worker: {dict(workers)}")
    assert len(workers) == WORKERS


async def test_connections_opened_at_once_are_shared_among_the_workers(gateway, gateway_url, centre):
    """A client opening its keep-alive connections all at once (as the bench's load does, 50 in flight) has
    them served by every worker alike, each on a socket of its own (`listeners`): with one socket shared by
    the workers, the first to wake accepted nearly all of them (45 of 50 measured), one core the limit."""
    before = answering_workers(gateway)
    limits = httpx.Limits(max_keepalive_connections=CONNECTIONS, max_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30.0, limits=limits) as client:
        for _ in range(2):  # the second round on the connections the first opened
            answers = await asyncio.gather(
                *[post(client, centre[1], collection(centre[0])) for _ in range(CONNECTIONS)]
            )
            assert {answer.status_code for answer in answers} == {202}
    served = answering_workers(gateway) - before
    print(
        f"\n{2 * CONNECTIONS} requests on {CONNECTIONS} connections opened at once, by worker: {dict(served)}"
    )
    assert len(served) == WORKERS
    # Each connection goes to a worker by a hash of its ports: fewer than a quarter on one worker is a
    # chance under 1 in 1,000 for 50 connections and two workers.
    assert min(served.values()) >= sum(served.values()) / WORKERS / 2, served


async def test_prefer_wait_and_a_duplicate_get_the_same_decision_from_any_worker(fresh, centre, new_key):
    events = [collection(centre[0]) for _ in range(REQUESTS // 4)]
    decided = await asyncio.gather(*[post(fresh, centre[1], event, WAIT) for event in events])
    assert {answer.status_code for answer in decided} == {200}, [
        a.text for a in decided if a.status_code != 200
    ]
    for answer, event in zip(decided, events):
        assert answer.json() == {
            "event_id": event["event_id"],
            "status": "applied",
            "outcome": {
                "state": "collected",
                "refund": None,
                "handling_fee": 0,
                "taken_back": "taken_back_free",
            },
        }
    again = await asyncio.gather(*[post(fresh, centre[1], events[0], WAIT) for _ in range(REQUESTS // 4)])
    reads = await asyncio.gather(
        *[
            fresh.get(f"/v1/events/{events[0]['event_id']}", headers=bearer(centre[1]))
            for _ in range(REQUESTS // 4)
        ]
    )
    assert {(a.status_code, json.dumps(a.json(), sort_keys=True)) for a in again} == {
        (200, json.dumps(decided[0].json(), sort_keys=True))
    }
    assert {json.dumps(r.json(), sort_keys=True) for r in reads} == {
        json.dumps(decided[0].json(), sort_keys=True)
    }
    other = await new_key("return_centre", unique("centre"))
    others = await asyncio.gather(
        *[fresh.get(f"/v1/events/{events[0]['event_id']}", headers=bearer(other)) for _ in range(10)]
    )
    assert {read.status_code for read in others} == {404}  # readable by its sender only, on every worker


async def test_a_key_revoked_is_refused_by_every_worker_within_five_seconds(fresh, centre, owner_pool):
    centre_id, key = centre
    warm = await asyncio.gather(*[post(fresh, key, collection(centre_id)) for _ in range(REQUESTS // 4)])
    assert {answer.status_code for answer in warm} == {202}  # every worker now holds the key in its cache
    await owner_pool.execute(
        "UPDATE gateway.api_keys SET revoked_at = now() WHERE key_id = $1", key.split("_")[1]
    )
    revoked_at = time.monotonic()
    while True:
        answers = await asyncio.gather(*[post(fresh, key, collection(centre_id)) for _ in range(20)])
        statuses = Counter(answer.status_code for answer in answers)
        if set(statuses) == {401}:
            break
        assert set(statuses) <= {202, 401}
        assert time.monotonic() - revoked_at <= REVOKED_WITHIN_S, statuses
        await asyncio.sleep(0.2)
    refused_after_s = time.monotonic() - revoked_at
    print(f"\nrevoked key refused by every worker after {refused_after_s:.2f} s (cache: {KEY_CACHE_TTL_S} s)")
    assert refused_after_s <= REVOKED_WITHIN_S
    assert {a.json()["error"] for a in answers} == {"revoked_key"}


async def test_metrics_count_for_the_whole_gateway_whichever_worker_is_scraped(fresh, centre):
    def accepted(text: str) -> float:
        prefix = 'takeback_gateway_events_total{outcome="accepted",reason="",type="collection.logged"} '
        return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))

    before = accepted((await fresh.get("/metrics")).text)
    answers = await asyncio.gather(
        *[post(fresh, centre[1], collection(centre[0])) for _ in range(REQUESTS // 2)]
    )
    assert {answer.status_code for answer in answers} == {202}
    scrapes = await asyncio.gather(*[fresh.get("/metrics") for _ in range(10)])
    assert {accepted(scrape.text) - before for scrape in scrapes} == {REQUESTS // 2}


async def test_every_event_answered_202_by_any_worker_is_in_kafka_once_byte_for_byte(fresh, centre, settings):
    topic = TOPIC_OF_TYPE["collection.logged"]
    since = await end_offsets(settings, topic)
    bodies = [json.dumps(collection(centre[0])).encode() for _ in range(REQUESTS)]
    answers = await asyncio.gather(
        *[fresh.post("/v1/events", content=body, headers={**bearer(centre[1]), **JSON}) for body in bodies]
    )
    assert {answer.status_code for answer in answers} == {202}
    written = Counter(message.value for message in await messages_since(settings, since))
    assert all(written[body] == 1 for body in bodies)  # each 202 was acknowledged by Kafka (acks=all), once
