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
from collections import Counter, deque
from collections.abc import Callable, Sequence
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
_FRAMED_BY = (b"content-length", b"transfer-encoding")  # else an answer's body ends with its connection


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


class _Tally:
    """The answers of a run as they come: each recorded in `load`; `finished` once the last is in."""

    def __init__(self, load: Load, expected: int, keep_bodies: bool) -> None:
        self.load, self.unanswered, self.keep_bodies = load, expected, keep_bodies
        self.finished = asyncio.get_running_loop().create_future()

    def answered(self, answer: Answer, since: float) -> bool:
        """Record it; whether answers are still to come."""
        _record(self.load, answer, since, self.keep_bodies)
        self.unanswered -= 1
        if self.unanswered == 0:
            self.finished.set_result(None)
        return self.unanswered > 0


async def in_flight(
    base_url: str, requests: Sequence[Request], concurrency: int, keep_bodies: bool = False
) -> Load:
    """Every request, at most `concurrency` at once, each started as soon as one ends."""
    assert concurrency >= 1, "at least one request in flight"
    load, pool = Load(), Connections(base_url, concurrency)
    pending = iter([pool.wire(request) for request in requests])
    tally = _Tally(load, len(requests), keep_bodies)

    def start() -> None:
        for wire in pending:
            since = time.perf_counter()
            pool.send(wire, lambda answer, since=since: answered(answer, since))
            return

    def answered(answer: Answer, since: float) -> None:
        if tally.answered(answer, since):
            start()

    async def run() -> None:
        for _ in range(min(concurrency, tally.unanswered)):
            start()
        if tally.unanswered:
            await tally.finished

    try:
        await _timed(load, run)
    finally:
        pool.close()
    return load


async def at_rate(
    base_url: str, requests: Sequence[Request], rate_per_s: float, keep_bodies: bool = False
) -> Load:
    """Request i started at i / rate_per_s seconds after the first (not before), latency from that moment."""
    assert rate_per_s > 0, "a rate above zero"
    load, pool = Load(), Connections(base_url, CONNECTIONS_MAX)
    wires = [pool.wire(request) for request in requests]
    loop = asyncio.get_running_loop()
    tally = _Tally(load, len(wires), keep_bodies)
    sent, started = 0, 0.0

    def send_due() -> None:
        """Every request due by now, then a wake-up at the next one's moment."""
        nonlocal sent
        now = time.perf_counter()
        while sent < len(wires) and (due := started + sent / rate_per_s) <= now:
            pool.send(wires[sent], lambda answer, since=due: tally.answered(answer, since))
            sent += 1
        if sent < len(wires):  # in whole milliseconds, the event loops' tick: no wake-up before it is due
            loop.call_later(math.ceil((started + sent / rate_per_s - now) * 1000) / 1000, send_due)

    async def run() -> None:
        nonlocal started
        if wires:
            started = time.perf_counter()
            send_due()
            await tally.finished

    try:
        await _timed(load, run)
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
    finished = asyncio.get_running_loop().create_future()
    open_now, since = 0, 0.0

    def answered(index: int, answer: Answer) -> None:
        nonlocal open_now
        open_now -= 1
        load.answers[index], load.bodies[index] = (answer[0], time.perf_counter() - since), answer[1]
        if open_now == 0:
            finished.set_result(None)

    async def send_all() -> None:
        nonlocal open_now, since
        since = time.perf_counter()
        for index, wire in enumerate(wires):
            open_now += 1
            load.in_flight_peak = max(load.in_flight_peak, open_now)
            pool.send(wire, lambda answer, index=index: answered(index, answer))
        await finished

    try:
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


OnAnswer = Callable[[Answer], None]


class _Exchange:
    """One request on its way: its bytes, who gets its answer (once), its timeout, the connection on which
    it went."""

    __slots__ = ("wire", "on_answer", "timeout", "done", "connection")

    def __init__(self, wire: bytes, on_answer: OnAnswer) -> None:
        self.wire, self.on_answer, self.done = wire, on_answer, False
        self.timeout: asyncio.TimerHandle | None = None
        self.connection: _Connection | None = None

    def finish(self, answer: Answer) -> None:
        if not self.done:
            self.done = True
            self.timeout.cancel()
            self.on_answer(answer)

    def expire(self) -> None:
        """No answer within REQUEST_TIMEOUT_S: no answer, and the connection carrying it closed (never reused:
        an answer arriving later must not be read as the next request's)."""
        if self.connection is not None:
            self.connection.close()
        self.finish(NO_ANSWER)


class Connections:
    """At most `limit` keep-alive connections to one server, each carrying one request at a time: an idle one
    is reused (the most recently used first), a new one opened when none is idle and fewer than `limit` are
    open; else the request waits, first come first sent, for one to be free. Driven by callbacks: no task
    and no future a request, only its timeout's timer."""

    def __init__(self, base_url: str, limit: int) -> None:
        assert limit >= 1, "at least one connection"
        parts = urlsplit(base_url)
        assert parts.scheme == "http", "plain HTTP only"
        assert parts.hostname, "a host"
        self.host, self.port = parts.hostname, parts.port or 80
        self.authority, self.prefix = parts.netloc, parts.path.rstrip("/")
        self.loop, self.limit = asyncio.get_running_loop(), limit
        self.idle: list[_Connection] = []
        self.waiting: deque[_Exchange] = deque()
        self.open = 0  # open or being opened, idle ones included
        self.opening: set[asyncio.Task] = set()
        self.closed = False

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

    def send(self, wire: bytes, on_answer: OnAnswer) -> None:
        """`on_answer` gets the answer, or NO_ANSWER if none came within REQUEST_TIMEOUT_S from now (a wait
        for a free connection included)."""
        exchange = _Exchange(wire, on_answer)
        exchange.timeout = self.loop.call_at(self.loop.time() + REQUEST_TIMEOUT_S, exchange.expire)
        self.waiting.append(exchange)
        self._dispatch()

    def close(self) -> None:
        self.closed = True
        for task in self.opening:
            task.cancel()
        for connection in self.idle:
            connection.close()
        self.idle.clear()

    def _dispatch(self) -> None:
        while self.waiting and (self.idle or self.open < self.limit):
            exchange = self.waiting.popleft()
            if exchange.done:
                continue  # expired while it waited
            if self.idle:
                self.idle.pop().start(exchange)
            else:
                self.open += 1
                task = self.loop.create_task(self._open(exchange))
                self.opening.add(task)
                task.add_done_callback(self.opening.discard)

    async def _open(self, exchange: _Exchange) -> None:
        try:
            _, connection = await self.loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except OSError:
            self.open -= 1
            exchange.finish(NO_ANSWER)
            self._dispatch()
            return
        if exchange.done:
            self.free(connection)
        else:
            connection.start(exchange)

    def free(self, connection: _Connection) -> None:
        """A connection done with its request: the next waiting request on it, or idle."""
        if not connection.reusable:
            connection.close()
            return  # counted out when it is lost
        while self.waiting:
            exchange = self.waiting.popleft()
            if not exchange.done:
                connection.start(exchange)
                return
        if self.closed:
            connection.close()
        else:
            self.idle.append(connection)

    def lost(self, connection: _Connection) -> None:
        self.open -= 1
        if connection in self.idle:
            self.idle.remove(connection)
        self._dispatch()


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: a request written whole, its answer read by `httptools`' response parser.
    Only the callbacks needed are defined (the parser calls no other): the headers are looked at only to know
    whether the body ends with the connection (neither Content-Length nor Transfer-Encoding)."""

    def __init__(self, pool: Connections) -> None:
        self.pool = pool
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.exchange: _Exchange | None = None
        self.complete: Answer | None = None  # the answer the parser just read whole
        self.reusable = True
        self.parts: list[bytes] = []
        self.size = 0
        self.framed = self.headed = False

    def start(self, exchange: _Exchange) -> None:
        assert self.exchange is None, "one request at a time on a connection"
        self.exchange, exchange.connection = exchange, self
        self.transport.write(exchange.wire)

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:  # not HTTP, too large: no answer, unless one was read whole first
            self.close()
            self.complete = self.complete or NO_ANSWER
        if self.complete is not None:  # handed on outside the parser, which would take an error for its own
            answer, self.complete = self.complete, None
            self._answer(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        # A body that ends with the connection is whole now; any other answer cut short is no answer.
        whole = self.headed and not self.framed
        self._answer((self.parser.get_status_code(), b"".join(self.parts)) if whole else NO_ANSWER)
        self.pool.lost(self)

    # httptools' callbacks
    def on_message_begin(self) -> None:
        self.parts, self.size, self.framed, self.headed = [], 0, False, False

    def on_header(self, name: bytes, _value: bytes) -> None:
        if name.lower() in _FRAMED_BY:
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
            self.reusable = False
        if self.exchange is None or self.complete is not None:  # an answer to no request: out of step
            self.close()
            return
        self.complete = (self.parser.get_status_code(), b"".join(self.parts))

    def _answer(self, answer: Answer) -> None:
        exchange, self.exchange = self.exchange, None
        if exchange is None or exchange.done:  # none, or expired (this connection then closed)
            return
        exchange.finish(answer)
        if self.reusable:
            self.pool.free(self)
        else:
            self.close()


def _record(load: Load, answer: Answer, since: float, keep_body: bool) -> None:
    load.answers.append((answer[0], time.perf_counter() - since))
    if keep_body:
        load.bodies.append(answer[1])


async def _timed(load: Load, run) -> None:
    cpu_before, started = own_cpu_ticks(), time.perf_counter()
    await run()
    load.wall_s = time.perf_counter() - started
    load.generator_cpu_s = (own_cpu_ticks() - cpu_before) / TICKS_PER_S
