"""`POST /v1/events` goes past the router (`GatewayApp`): every answer is byte for byte the one the routed
path gives, and so are what it publishes, logs and counts. Each case runs the same requests on two apps built
alike, one called as the server calls it, the other through FastAPI's whole stack."""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI

from contracts.structs import read_event
from services.bench.scenario import collection, encode
from services.common.settings import Settings
from services.gateway.adapters.event_publisher import RecordingEventPublisher
from services.gateway.adapters.event_records import InMemoryEventRecords
from services.gateway.adapters.key_repository import InMemoryKeyRepository
from services.gateway.bootstrap import build_gateway
from services.gateway.domain.event_status import InboxRecord
from services.gateway.domain.keys import issue_key
from services.gateway.entrypoints import refusals
from services.gateway.entrypoints.access_log import LOG_FIELDS_SCOPE_KEY
from services.gateway.entrypoints.app import GatewayApp, create_app

CENTRE = "centre-path"
BODY_MAX_BYTES = 4096
KEY, STORED = issue_key("return_centre", CENTRE, "producer")
OTHER_KEY, OTHER_STORED = issue_key("return_centre", "centre-other", "producer")
_, REVOKED_STORED = issue_key("return_centre", "centre-gone", "producer")


def a_collection(centre: str = CENTRE) -> bytes:
    return encode(collection(centre, f"PATH-{uuid.uuid4().hex[:12]}"))


class Broken(RecordingEventPublisher):
    async def publish(self, topic: str, key: str, value: bytes) -> None:
        raise RuntimeError("a bug in the publisher")


def request(
    body: bytes | list[bytes],
    *,
    key: str | None = KEY,
    content_type: str | None = "application/json",
    query: bytes = b"",
    extra: list[tuple[bytes, bytes]] | None = None,
    length: int | None = None,
):
    chunks = body if isinstance(body, list) else [body]
    headers = [(b"host", b"gateway")]
    if key is not None:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    if content_type is not None:
        headers.append((b"content-type", content_type.encode()))
    if length is not None or not isinstance(body, list):
        headers.append((b"content-length", str(length if length is not None else len(body)).encode()))
    return chunks, headers + (extra or []), query


async def answer(app: FastAPI, routed: bool, chunks: list[bytes], headers, query: bytes):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/events",
        "raw_path": b"/v1/events",
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    call = FastAPI.__call__ if routed else GatewayApp.__call__
    raised = None
    try:
        await call(app, scope, receive, send)
    except Exception as error:  # a bug: both paths answer 500 and raise it on to the server
        raised = repr(error)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], start["headers"], body, scope.get(LOG_FIELDS_SCOPE_KEY), raised


async def both(requests, settings: Settings | None = None, publisher_class=RecordingEventPublisher, inbox=()):
    """What each path answered to the same requests: (answers, published, counted) a path."""
    seen = []
    for routed in (False, True):
        publisher, keys = publisher_class(), InMemoryKeyRepository()
        keys.keys.update({STORED.key_id: STORED, OTHER_STORED.key_id: OTHER_STORED})
        records = InMemoryEventRecords(inbox)

        @asynccontextmanager
        async def fakes(settings, publisher=publisher, keys=keys, records=records):
            gateway = build_gateway(settings, publisher=publisher, key_repository=keys, event_records=records)
            gateway.outcomes.poll_interval_s = 0.05
            watching = asyncio.create_task(gateway.outcomes.run_forever())
            gateway.ready = True
            try:
                yield gateway
            finally:
                watching.cancel()

        app = create_app(settings or Settings(http_body_max_bytes=BODY_MAX_BYTES), fakes)
        async with app.router.lifespan_context(app):
            answers = [await answer(app, routed, *r) for r in requests]
            counted = sorted(
                (sample.name, tuple(sorted(sample.labels.items())), sample.value)
                for family in app.state.gateway.metrics.registry.collect()
                for sample in family.samples
                if sample.name.startswith(("takeback_gateway_events", "takeback_gateway_http_requests"))
                and not sample.name.endswith("_created")
            )
        seen.append((answers, publisher.published if hasattr(publisher, "published") else [], counted))
    return seen


def statuses(answers) -> list[int]:
    return [status for status, *_ in answers]


async def test_an_accepted_event_and_every_refusal_before_the_body_is_read():
    valid, split = a_collection(), a_collection()
    cases = [
        request(valid),
        request(valid),  # the same event again: accepted again (Kafka's consumers deduplicate)
        request(a_collection(), key=None),
        request(a_collection(), key="tbk_nothing_like_a_key"),
        request(a_collection(), key=OTHER_KEY.replace(OTHER_KEY[-4:], "aaaa")),
        request(a_collection(), content_type="text/plain"),
        request(a_collection(), content_type="application/json; charset=latin-1"),
        request(a_collection(), content_type="application/json; charset=UTF-8"),
        request(a_collection(), content_type=None),
        request(b"{", length=BODY_MAX_BYTES + 1),
        request([b" " * 1024] * (BODY_MAX_BYTES // 1024 + 2)),
        request([split[:10], split[10:]]),
        request(a_collection(), query=b"wait=5"),
        request(a_collection(), query=b"a=1&a=2&b"),
        request(a_collection(), extra=[(b"prefer", b"wait=11")]),
        request(a_collection(), extra=[(b"prefer", b"")]),
    ]
    (fast, fast_published, fast_counted), (routed, routed_published, routed_counted) = await both(cases)
    assert fast == routed
    assert fast_published == routed_published and fast_counted == routed_counted
    assert statuses(fast) == [202, 202, 401, 401, 401, 415, 415, 202, 415, 413, 413, 202, 400, 400, 400, 202]


async def test_every_refusal_of_the_event_itself():
    valid = collection(CENTRE, "PATH-BAD")
    bad_field = {**valid, "data": {**valid["data"], "condition": "shiny"}}
    cases = [
        request(encode(bad_field)),
        request(encode(collection("centre-other", "PATH-X"))),  # as another centre: 403
        request(encode({**valid, "type": "sale.recorded"})),  # a type a centre may not send: 403
        request(b"[]"),
        request(b"not json"),
        request(b'{"a": 1, "a": 2}'),
        request(json.dumps({**valid, "version": 7}).encode()),
        request(b"\xff\xfe"),
        request(json.dumps({**valid, "extra": 1}).encode()),
    ]
    (fast, fast_published, fast_counted), (routed, routed_published, routed_counted) = await both(cases)
    assert fast == routed
    assert fast_published == routed_published == [] and fast_counted == routed_counted
    assert set(statuses(fast)) == {400, 403}


class Recorded:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict]] = []

    def error(self, event: str, **fields) -> None:
        self.lines.append((event, {**fields, "exc_info": repr(fields.get("exc_info"))}))


async def test_a_key_over_its_rate_and_a_bug(monkeypatch):
    cases = [request(a_collection()), request(a_collection())]
    settings = Settings(http_body_max_bytes=BODY_MAX_BYTES, http_key_rate_per_s=0.001, http_key_burst=1)
    (fast, *_), (routed, *_) = await both(cases, settings)
    assert fast == routed and statuses(fast) == [202, 429]
    monkeypatch.setattr(refusals, "log", recorded := Recorded())  # the traceback, not rendered here
    (fast, *_), (routed, *_) = await both([request(a_collection())], publisher_class=Broken)
    assert fast == routed and statuses(fast) == [500]
    assert [event for event, _ in recorded.lines] == ["unhandled_error"] * 2
    assert recorded.lines[0] == recorded.lines[1]
    assert fast[0][-1] == "RuntimeError('a bug in the publisher')"  # raised on to the server, as routed


@pytest.mark.parametrize("decided", [True, False])
async def test_prefer_wait_answers_the_decision_or_202_after_the_wait(decided):
    body = a_collection()
    event, sent_hash = read_event(body)
    inbox = [
        InboxRecord(
            event.event_id,
            "collection.logged",
            "applied",
            None,
            sent_hash,
            taken_back="taken_back_free",
            source_kind="return_centre",
            source_id=CENTRE,
        )
    ]
    cases = [request(body, extra=[(b"prefer", b"wait=1")])]
    (fast, *_), (routed, *_) = await both(cases, inbox=inbox if decided else ())
    assert fast == routed
    assert statuses(fast) == [200 if decided else 202]
    assert (b"preference-applied", b"wait=1") in fast[0][1]
