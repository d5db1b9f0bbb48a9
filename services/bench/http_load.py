"""Load over HTTP for `takeback bench --gateway / --counter / --waiters`: requests with a bound in flight (the
most the gateway answers), on a fixed schedule (latency at a chosen rate), or all at once, and percentiles.

The generator shares the machine with what it measures, so it is lean and reports its own CPU time: keep-alive
HTTP/1.1 connections on asyncio's transports, each request's bytes built once before the run, answers read by
the native parser the gateway's server uses (`httptools`), one request at a time a connection. A connection
the server closes (`Connection: close`, an error) is replaced by a new one; a request without an answer
(refused, cut, or not answered within REQUEST_TIMEOUT_S) counts under status 0; every other answer (429, 503
with its `Retry-After`) counts as its status, never retried. At a fixed rate a request's latency runs from
the moment the schedule meant it to start, not from when it was sent: a generator that falls behind makes
the figures worse, never better.
"""

from __future__ import annotations

import asyncio
import math
import resource
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

from services.bench.memory import TICKS_PER_S, own_cpu_ticks

REQUEST_TIMEOUT_S = 30.0  # from the request's call to its whole answer, a free connection's wait included
CONNECTIONS_MAX = 1000  # at a fixed rate, requests in flight at once (each holds a connection)
FILES_SPARE = 200  # open files the generator keeps beside its connections
ANSWER_BYTES_MAX = 16 * 1024 * 1024  # an answer's body beyond this is not an answer (status 0)
Answer = tuple[int, bytes]  # (status, body); (0, b"") for no answer
NO_ANSWER: Answer = (0, b"")
_FRAMING = {"host", "content-length", "transfer-encoding"}  # headers the generator writes itself
_LINE_BREAK = {"\r", "\n"}


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Load:
    """What one phase measured: each answer's status and seconds, the wall time, the generator's CPU."""

    answers: list[tuple[int, float]] = field(default_factory=list)  # (status, seconds), 0: no answer
    bodies: list[bytes] = field(default_factory=list)  # with `keep_bodies`: bodies[i] is answers[i]'s
    wall_s: float = 0.0
    generator_cpu_s: float = 0.0

    in_flight_peak: int = 0  # the most requests sent and not yet answered at once (`at_once`)

    @property
    def statuses(self) -> Counter:
        return Counter(status for status, _ in self.answers)

    def seconds(self, *statuses: int) -> list[float]:
        return [seconds for status, seconds in self.answers if status in statuses]

    def rate_per_s(self, status: int) -> float:
        return len(self.seconds(status)) / self.wall_s if self.wall_s > 0 else 0.0


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    assert values, "a percentile of no values"
    assert 0 < share <= 1, "a share in (0, 1]"
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def latency_ms(values: Sequence[float]) -> dict[str, float | None]:
    """p50 and p99 of `values` (seconds) in milliseconds, rounded to 0.1 ms; None without values."""
    if not values:
        return {"p50_ms": None, "p99_ms": None}
    return {
        "p50_ms": round(percentile(values, 0.50) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
    }


async def in_flight(
    base_url: str, requests: Sequence[Request], concurrency: int, keep_bodies: bool = False
) -> Load:
    """Every request, at most `concurrency` at once, each started as soon as one ends."""
    assert concurrency >= 1, "at least one request in flight"
    load, pool = Load(), Connections(base_url, concurrency)
    pending = iter([pool.wire(request) for request in requests])
    try:

        async def worker() -> None:
            for wire in pending:
                since = time.perf_counter()
                _record(load, await pool.exchange(wire), since, keep_bodies)

        await _timed(load, lambda: asyncio.gather(*[worker() for _ in range(concurrency)]))
    finally:
        pool.close()
    return load


async def at_rate(
    base_url: str, requests: Sequence[Request], rate_per_s: float, keep_bodies: bool = False
) -> Load:
    """Request i started at i / rate_per_s seconds after the first; latency from that moment."""
    assert rate_per_s > 0, "a rate above zero"
    load, pool = Load(), Connections(base_url, CONNECTIONS_MAX)
    wires = [pool.wire(request) for request in requests]
    try:

        async def one(wire: bytes, due: float) -> None:
            _record(load, await pool.exchange(wire), due, keep_bodies)

        async def schedule() -> None:
            started, tasks = time.perf_counter(), []
            for index, wire in enumerate(wires):
                due = started + index / rate_per_s
                ahead = due - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
                tasks.append(asyncio.create_task(one(wire, due)))
            await asyncio.gather(*tasks)

        await _timed(load, schedule)
    finally:
        pool.close()
    return load


async def at_once(base_url: str, requests: Sequence[Request]) -> Load:
    """Every request sent at once, each on its connection; answers and bodies in the requests' order,
    seconds from the moment all were started."""
    assert requests, "at least one request"
    enough_files(len(requests) + FILES_SPARE)
    load, pool = Load(), Connections(base_url, len(requests))
    wires = [pool.wire(request) for request in requests]
    load.answers, load.bodies = [(0, 0.0)] * len(requests), [b""] * len(requests)
    open_now = 0
    try:

        async def one(index: int, since: float) -> None:
            nonlocal open_now
            open_now += 1
            load.in_flight_peak = max(load.in_flight_peak, open_now)
            status, body = await pool.exchange(wires[index])
            open_now -= 1
            load.answers[index], load.bodies[index] = (status, time.perf_counter() - since), body

        async def send_all() -> None:
            since = time.perf_counter()
            await asyncio.gather(*[one(index, since) for index in range(len(requests))])

        await _timed(load, send_all)
    finally:
        pool.close()
    return load


def enough_files(wanted: int) -> None:
    """This process's soft limit on open files raised to `wanted` (each connection is one), if the hard limit
    allows; else as high as it allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard)
        )


class Connections:
    """At most `limit` keep-alive connections to one server, each carrying one request at a time: an idle one
    is reused (the most recently used first), a new one opened when none is idle, a request waits while
    `limit` are busy."""

    def __init__(self, base_url: str, limit: int) -> None:
        assert limit >= 1, "at least one connection"
        parts = urlsplit(base_url)
        assert parts.scheme == "http", "plain HTTP only"
        assert parts.hostname, "a host"
        self.host, self.port = parts.hostname, parts.port or 80
        self.authority, self.prefix = parts.netloc, parts.path.rstrip("/")
        self.slots = asyncio.Semaphore(limit)
        self.idle: list[_Connection] = []
        self.opened = 0  # connections opened over the pool's life (a test reads it)

    def wire(self, request: Request) -> bytes:
        """The request's bytes as sent: `POST`, its head and its body."""
        assert request.path.startswith("/"), "a path from the root"
        assert not {name.lower() for name in request.headers} & _FRAMING, "the generator frames the request"
        written = request.path + "".join(request.headers) + "".join(request.headers.values())
        assert not _LINE_BREAK & set(written), "no line break inside the request's head"
        lines = [
            f"POST {self.prefix}{request.path} HTTP/1.1",
            f"Host: {self.authority}",
            f"Content-Length: {len(request.body)}",
            *(f"{name}: {value}" for name, value in request.headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body

    async def exchange(self, wire: bytes) -> Answer:
        """The request's answer, or NO_ANSWER when none came within REQUEST_TIMEOUT_S (the connection then
        closed: an answer arriving later must not be read as the next request's)."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S), self.slots:
                connection = self._idle() or await self._open()
                try:
                    return await connection.exchange(wire)
                finally:
                    if connection.reusable:
                        self.idle.append(connection)
                    else:
                        connection.close()
        except (TimeoutError, OSError):
            return NO_ANSWER

    def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()

    def _idle(self) -> _Connection | None:
        while self.idle:
            connection = self.idle.pop()
            if connection.reusable:
                return connection
        return None

    async def _open(self) -> _Connection:
        self.opened += 1
        _, connection = await asyncio.get_running_loop().create_connection(_Connection, self.host, self.port)
        return connection


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: a request written whole, its answer read by `httptools`' response parser.
    Only the callbacks needed are defined (the parser calls no other): the headers are looked at only to know
    whether the body ends with the connection (neither Content-Length nor Transfer-Encoding)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiting: asyncio.Future[Answer] | None = None
        self.reusable = True
        self.parts: list[bytes] = []
        self.size = 0
        self.framed = self.headed = False

    async def exchange(self, wire: bytes) -> Answer:
        assert self.waiting is None, "one request at a time on a connection"
        self.waiting = asyncio.get_running_loop().create_future()
        self.transport.write(wire)
        try:
            return await self.waiting
        finally:
            if self.waiting.cancelled():  # the timeout: an answer may still come, so never reused
                self.reusable = False
            self.waiting = None

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._answer(NO_ANSWER)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        # A body that ends with the connection is whole now; any other answer cut short is no answer.
        whole = self.headed and not self.framed
        self._answer((self.parser.get_status_code(), b"".join(self.parts)) if whole else NO_ANSWER)

    # httptools' callbacks
    def on_message_begin(self) -> None:
        self.parts, self.size, self.framed, self.headed = [], 0, False, False

    def on_header(self, name: bytes, _value: bytes) -> None:
        if len(name) in (14, 17) and name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headed = True

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > ANSWER_BYTES_MAX:
            raise ValueError("an answer larger than ANSWER_BYTES_MAX")  # the parser's error: no answer
        self.parts.append(body)

    def on_message_complete(self) -> None:
        self.headed = False  # whole: a later close does not cut it
        if not self.parser.should_keep_alive():
            self.close()
        if self.waiting is None:  # an answer to no request: the exchange is out of step
            self.close()
            return
        self._answer((self.parser.get_status_code(), b"".join(self.parts)))

    def _answer(self, answer: Answer) -> None:
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(answer)


def _record(load: Load, answer: Answer, since: float, keep_body: bool) -> None:
    load.answers.append((answer[0], time.perf_counter() - since))
    if keep_body:
        load.bodies.append(answer[1])


async def _timed(load: Load, run) -> None:
    cpu_before, started = own_cpu_ticks(), time.perf_counter()
    await run()
    load.wall_s = time.perf_counter() - started
    load.generator_cpu_s = (own_cpu_ticks() - cpu_before) / TICKS_PER_S
