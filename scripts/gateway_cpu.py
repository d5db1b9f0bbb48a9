"""The gateway app's own CPU per `POST /v1/events`, in this process: no server, no Kafka, no PostgreSQL.

    .venv/bin/python scripts/gateway_cpu.py --requests 5000

Builds the app through the real bootstrap with an in-memory key store and a recording
publisher (as the unit tests do), and calls it as the HTTP server would (one ASGI call a
request), IN_FLIGHT at once, with a valid collection each. Repeats that ROUNDS times and
prints the least and the median of the rounds' process CPU in µs per request (the least
is the least disturbed by other work on the machine). What it leaves out, the HTTP
parsing, the event loop's socket work, Kafka's client and the accepted-events INSERT,
the gateway pays on top (`takeback bench --gateway` measures the whole). Access-log
lines are written to /dev/null. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from contextlib import asynccontextmanager

from services.bench.scenario import collection, encode
from services.common.logging import configure_logging
from services.common.settings import Settings
from services.gateway.adapters.event_publisher import RecordingEventPublisher
from services.gateway.adapters.key_repository import InMemoryKeyRepository
from services.gateway.bootstrap import build_gateway
from services.gateway.domain.keys import issue_key
from services.gateway.entrypoints.app import create_app

IN_FLIGHT = 50
ROUNDS = 5
CENTRE = "centre-cpu"


def asgi_request(app, body: bytes, presented: str):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/events",
        "raw_path": b"/v1/events",
        "query_string": b"",
        "root_path": "",
        "app": app,
        "headers": [
            (b"host", b"gateway"),
            (b"authorization", f"Bearer {presented}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    statuses: list[int] = []

    async def receive():
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    return scope, receive, send, statuses


async def one_round(app, presented: str, requests: int) -> float:
    bodies = [encode(collection(CENTRE, f"CPU-{uuid.uuid4().hex[:12]}")) for _ in range(requests)]
    gate, answered = asyncio.Semaphore(IN_FLIGHT), []

    async def call(body: bytes) -> None:
        async with gate:
            scope, receive, send, statuses = asgi_request(app, body, presented)
            await app(scope, receive, send)
            answered.extend(statuses)

    started = time.process_time()
    await asyncio.gather(*[call(body) for body in bodies])
    spent = time.process_time() - started
    assert answered == [202] * requests, {status: answered.count(status) for status in set(answered)}
    return spent / requests * 1e6


async def main(requests: int) -> None:
    publisher, keys = RecordingEventPublisher(), InMemoryKeyRepository()
    presented, stored = issue_key("return_centre", CENTRE, "producer")
    keys.keys[stored.key_id] = stored

    @asynccontextmanager
    async def fakes(settings):
        gateway = build_gateway(settings, publisher=publisher, key_repository=keys)
        gateway.ready = True
        yield gateway

    app = create_app(Settings(http_key_rate_per_s=1e9, http_key_burst=10**9), fakes)
    async with app.router.lifespan_context(app):
        await one_round(app, presented, IN_FLIGHT)  # warm: imports, caches
        rounds = [await one_round(app, presented, requests) for _ in range(ROUNDS)]
    print(
        f"POST /v1/events, app only, {IN_FLIGHT} in flight: {min(rounds):.0f} µs CPU a request at least, "
        f"{statistics.median(rounds):.0f} µs median of {ROUNDS} rounds of {requests}",
        file=sys.__stdout__,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    arguments = parser.parse_args()
    sys.stderr = open(os.devnull, "w")  # the access log, one line a request
    configure_logging("info", "json", service="gateway")
    asyncio.run(main(arguments.requests))
