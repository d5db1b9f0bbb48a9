"""Load over HTTP for `takeback bench --gateway / --counter`: requests with a bound in flight (the most
the gateway answers), or started on a fixed schedule (latency at a chosen rate), and their percentiles.

The generator shares the machine with what it measures, so it is an aiohttp client
(its HTTP parser in native code) and reports its own CPU time. At a fixed rate a
request's latency runs from the moment the schedule meant it to start, not from
when it was sent: a generator that falls behind makes the figures worse, never better.
"""

from __future__ import annotations

import asyncio
import math
import resource
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from services.bench.memory import TICKS_PER_S, own_cpu_ticks

REQUEST_TIMEOUT_S = 30.0
CONNECTIONS_MAX = 1000  # at a fixed rate, requests in flight at once (each holds a connection)
FILES_SPARE = 200  # open files the generator keeps beside its connections


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Load:
    """What one phase measured: each answer's status and seconds, the wall time, the generator's CPU."""

    answers: list[tuple[int, float]] = field(default_factory=list)  # (status, seconds), 0: no answer
    bodies: list[bytes] = field(default_factory=list)
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
    load, pending = Load(), iter(requests)
    async with _session(base_url, concurrency) as session:

        async def worker() -> None:
            for request in pending:
                await _send(session, request, time.perf_counter(), load, keep_bodies)

        await _timed(load, lambda: asyncio.gather(*[worker() for _ in range(concurrency)]))
    return load


async def at_rate(
    base_url: str, requests: Sequence[Request], rate_per_s: float, keep_bodies: bool = False
) -> Load:
    """Request i started at i / rate_per_s seconds after the first; latency from that moment."""
    assert rate_per_s > 0, "a rate above zero"
    load = Load()
    async with _session(base_url, CONNECTIONS_MAX) as session:

        async def schedule() -> None:
            started, tasks = time.perf_counter(), []
            for index, request in enumerate(requests):
                due = started + index / rate_per_s
                ahead = due - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
                tasks.append(asyncio.create_task(_send(session, request, due, load, keep_bodies)))
            await asyncio.gather(*tasks)

        await _timed(load, schedule)
    return load


async def at_once(base_url: str, requests: Sequence[Request]) -> Load:
    """Every request sent at once, each on its connection; answers and bodies in the requests' order,
    seconds from the moment all were started."""
    assert requests, "at least one request"
    enough_files(len(requests) + FILES_SPARE)
    load = Load()
    load.answers, load.bodies = [(0, 0.0)] * len(requests), [b""] * len(requests)
    open_now = 0
    async with _session(base_url, len(requests)) as session:

        async def one(index: int, since: float) -> None:
            nonlocal open_now
            open_now += 1
            load.in_flight_peak = max(load.in_flight_peak, open_now)
            answer = Load()
            await _send(session, requests[index], since, answer, keep_body=True)
            open_now -= 1
            load.answers[index], load.bodies[index] = answer.answers[0], answer.bodies[0]

        async def send_all() -> None:
            since = time.perf_counter()
            await asyncio.gather(*[one(index, since) for index in range(len(requests))])

        await _timed(load, send_all)
    return load


def enough_files(wanted: int) -> None:
    """This process's soft limit on open files raised to `wanted` (each connection is one), if the hard limit
    allows; else as high as it allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard)
        )


async def _timed(load: Load, run) -> None:
    cpu_before, started = own_cpu_ticks(), time.perf_counter()
    await run()
    load.wall_s = time.perf_counter() - started
    load.generator_cpu_s = (own_cpu_ticks() - cpu_before) / TICKS_PER_S


def _session(base_url: str, connections: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections, force_close=False)
    return aiohttp.ClientSession(
        base_url,
        connector=connector,
        skip_auto_headers=("User-Agent",),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
    )


async def _send(
    session: aiohttp.ClientSession, request: Request, since: float, load: Load, keep_body: bool
) -> None:
    try:
        async with session.post(request.path, data=request.body, headers=request.headers) as response:
            body = await response.read()
            status = response.status
    except (TimeoutError, aiohttp.ClientError):
        status, body = 0, b""  # no answer: counted under status 0
    load.answers.append((status, time.perf_counter() - since))
    if keep_body:
        load.bodies.append(body)
