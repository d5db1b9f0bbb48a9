"""The bench's HTTP load generator against a real local HTTP server (asyncio, on a free port) whose
answers the test chooses byte for byte: keep-alive reuse, Content-Length and chunked bodies cut anywhere, a
server that closes its connections, no answer within the timeout (status 0), 429 and 503 counted as they are,
and the fixed schedule's latency rule."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.bench import http_load
from services.bench.http_load import Request, at_once, at_rate, in_flight


@dataclass
class Seen:
    """What the server received: connections opened, and each request's body in arrival order."""

    connections: int = 0
    bodies: list[bytes] = field(default_factory=list)


def length_answer(status: int, body: bytes, *headers: str) -> bytes:
    head = "".join(f"{header}\r\n" for header in headers)
    return f"HTTP/1.1 {status} X\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def chunked_answer(status: int, chunks: list[bytes]) -> bytes:
    framed = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks)
    return f"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + framed + b"0\r\n\r\n"


class Server:
    """An HTTP/1.1 server on 127.0.0.1: each request read whole (Content-Length), then `reply(body, seen)`
    gives the pieces to write (each flushed apart, a short pause between; None among them closes the
    connection there), or None to close without a word; or a future of either."""

    def __init__(self, reply: Callable[[bytes, Seen], Any], pause_s: float = 0.005) -> None:
        self.reply, self.pause_s, self.seen = reply, pause_s, Seen()
        self.handlers: list[asyncio.Task] = []

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *_) -> None:
        self.server.close()
        for handler in self.handlers:
            handler.cancel()
        await asyncio.gather(*self.handlers)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.seen.connections += 1
        self.handlers.append(asyncio.current_task())
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"Content-Length: (\d+)", head)[1])
                body = await reader.readexactly(length)
                self.seen.bodies.append(body)
                pieces = self.reply(body, self.seen)
                if isinstance(pieces, asyncio.Future | asyncio.Task):
                    pieces = await pieces
                if pieces is None:
                    writer.close()
                    return
                for index, piece in enumerate(pieces):
                    if index:
                        await asyncio.sleep(self.pause_s)
                    if piece is None:  # the connection closed there
                        writer.close()
                        return
                    writer.write(piece)
                    await writer.drain()
                if b"Connection: close" in pieces[0]:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()


def requests(count: int) -> list[Request]:
    return [Request("/v1/events", b"request-%04d" % index, {"X-Test": "yes"}) for index in range(count)]


def echo(body: bytes, _seen: Seen) -> list[bytes]:
    return [length_answer(202, b"answer to " + body)]


async def test_requests_in_flight_reuse_their_keep_alive_connections():
    async with Server(echo) as server:
        load = await in_flight(server.url, requests(40), concurrency=3, keep_bodies=True)
    assert load.statuses == {202: 40}
    assert server.seen.connections == 3  # one a request in flight, each kept for the next
    assert sorted(load.bodies) == [b"answer to " + request.body for request in requests(40)]


async def test_each_answer_kept_is_the_answer_to_the_request_beside_it():
    """Even requests are answered 201 and late, odd ones 202 at once: answers come out of the requests' order,
    and each body kept stays beside its own status."""

    def slow_evens(body: bytes, _seen: Seen):
        even = int(body[-4:]) % 2 == 0
        return delayed([length_answer(201 if even else 202, b"answer to " + body)], 0.05 if even else 0)

    async with Server(slow_evens) as server:
        load = await in_flight(server.url, requests(20), concurrency=4, keep_bodies=True)
    assert load.statuses == {201: 10, 202: 10}
    assert sorted(load.bodies) == [b"answer to " + request.body for request in requests(20)]
    assert [201 if int(body[-4:]) % 2 == 0 else 202 for body in load.bodies] == [
        status for status, _ in load.answers
    ]
    assert load.bodies != sorted(load.bodies)  # out of order: the pairing was put to the test


async def test_a_content_length_body_cut_anywhere_is_read_whole():
    body = b'{"event_id": "e-1", "status": "accepted", "padding": "' + b"x" * 5000 + b'"}'
    answer = length_answer(202, body, "Date: today", "Content-Type: application/json")

    def in_pieces(_body: bytes, _seen: Seen) -> list[bytes]:
        return [answer[:7], answer[7:40], answer[40:41], answer[41:3000], answer[3000:]]

    async with Server(in_pieces) as server:
        load = await in_flight(server.url, requests(3), concurrency=1, keep_bodies=True)
    assert load.statuses == {202: 3}
    assert load.bodies == [body] * 3


async def test_a_chunked_body_is_read_whole_and_the_connection_kept():
    chunks = [b'{"event_id": ', b'"e-1", ', b'"status": "applied"}']

    def chunked(_body: bytes, _seen: Seen) -> list[bytes]:
        answer = chunked_answer(200, chunks)
        return [answer[:30], answer[30:55], answer[55:]]

    async with Server(chunked) as server:
        load = await in_flight(server.url, requests(5), concurrency=1, keep_bodies=True)
    assert load.statuses == {200: 5}
    assert load.bodies == [b"".join(chunks)] * 5
    assert server.seen.connections == 1


async def test_a_body_without_length_ends_with_the_connection():
    def until_close(_body: bytes, _seen: Seen) -> list[bytes]:
        return [b"HTTP/1.1 200 X\r\nConnection: close\r\n\r\n", b"the whole ", b"body"]

    async with Server(until_close) as server:
        load = await in_flight(server.url, requests(3), concurrency=1, keep_bodies=True)
    assert load.statuses == {200: 3}
    assert load.bodies == [b"the whole body"] * 3


async def test_an_answer_cut_short_by_a_closed_connection_is_no_answer():
    def cut(body: bytes, seen: Seen) -> list[bytes]:
        whole = length_answer(200, b"x" * 100)
        return [whole[:-60], None] if len(seen.bodies) == 2 else [whole]

    async with Server(cut) as server:
        load = await in_flight(server.url, requests(3), concurrency=1, keep_bodies=True)
    assert [status for status, _ in load.answers] == [200, 0, 200]
    assert load.bodies == [b"x" * 100, b"", b"x" * 100]
    assert server.seen.connections == 2


async def test_bytes_that_are_not_http_are_no_answer_and_an_answer_with_more_than_asked_is_kept():
    def odd(body: bytes, seen: Seen) -> list[bytes]:
        if len(seen.bodies) == 1:
            return [b"SMTP ready\r\n\r\n"]
        if len(seen.bodies) == 2:
            return [length_answer(202, body) + b"HTTP/1.1 200 X\r\nContent-Length: 0\r\n\r\n"]
        if len(seen.bodies) == 3:
            return [length_answer(202, body) + b"not http at all\r\n\r\n"]
        return [length_answer(202, body)]

    async with Server(odd) as server:
        load = await in_flight(server.url, requests(4), concurrency=1, keep_bodies=True)
    assert [status for status, _ in load.answers] == [0, 202, 202, 202]
    assert load.bodies == [b"", b"request-0001", b"request-0002", b"request-0003"]
    assert server.seen.connections == 4  # no connection out of step is used again


async def test_a_server_that_closes_after_answering_gets_a_new_connection_a_request():
    def close_each(body: bytes, _seen: Seen) -> list[bytes]:
        return [length_answer(202, body, "Connection: close")]

    async with Server(close_each) as server:
        load = await in_flight(server.url, requests(6), concurrency=2, keep_bodies=True)
    assert load.statuses == {202: 6}
    assert server.seen.connections == 6
    assert sorted(load.bodies) == [request.body for request in requests(6)]


async def test_a_connection_closed_without_an_answer_counts_status_0_and_the_next_request_goes_on():
    def drop_third(body: bytes, seen: Seen) -> list[bytes] | None:
        return None if len(seen.bodies) == 3 else [length_answer(202, body)]

    async with Server(drop_third) as server:
        load = await in_flight(server.url, requests(6), concurrency=1, keep_bodies=True)
    assert [status for status, _ in load.answers] == [202, 202, 0, 202, 202, 202]
    assert load.bodies[2] == b""
    assert server.seen.connections == 2  # the dropped one, then a new one for the rest


async def test_no_answer_within_the_timeout_is_status_0_and_a_late_answer_is_never_taken_for_the_next(
    monkeypatch,
):
    monkeypatch.setattr(http_load, "REQUEST_TIMEOUT_S", 0.2)
    late_s = 2.0

    def first_late(body: bytes, seen: Seen):
        late = len(seen.bodies) == 1
        return delayed([length_answer(202, b"answer to " + body)], late_s if late else 0)

    async with Server(first_late) as server:
        started = time.perf_counter()
        load = await in_flight(server.url, requests(3), concurrency=1, keep_bodies=True)
        took = time.perf_counter() - started
    assert [status for status, _ in load.answers] == [0, 202, 202]
    assert 0.2 <= load.answers[0][1] < late_s
    assert load.bodies[1:] == [b"answer to request-0001", b"answer to request-0002"]
    assert server.seen.connections == 2  # the timed-out one closed, not reused
    assert took < late_s  # the late answer was not waited for


async def test_refusals_count_as_their_status_and_are_never_retried():
    def refuse(body: bytes, _seen: Seen) -> list[bytes]:
        if int(body[-4:]) % 2:
            return [length_answer(429, b'{"error":"rate_limited"}', "Retry-After: 1")]
        return [length_answer(503, b'{"error":"unavailable"}', "Retry-After: 5")]

    async with Server(refuse) as server:
        load = await at_rate(server.url, requests(10), rate_per_s=200)
    assert load.statuses == {429: 5, 503: 5}
    assert len(server.seen.bodies) == 10


async def test_nothing_listening_is_status_0_for_every_request():
    async with Server(echo) as server:
        pass  # closed: the port now refuses
    load = await in_flight(server.url, requests(4), concurrency=2)
    assert load.statuses == {0: 4}


async def test_at_a_fixed_rate_latency_runs_from_the_moment_the_schedule_meant_the_request_to_start(
    monkeypatch,
):
    """One connection, an answer taking 0.1 s, a request due every 0.02 s: request i waits for the i before
    it, so its answer comes about 0.1 * (i + 1) s after the start, 0.1 * (i + 1) - 0.02 * i after it was due
    (a generator timing from the send would say 0.1 s for each)."""
    monkeypatch.setattr(http_load, "CONNECTIONS_MAX", 1)
    answer_s, every_s, count = 0.1, 0.02, 6

    def slow(body: bytes, _seen: Seen):
        return delayed([length_answer(202, body)], answer_s)

    async with Server(slow) as server:
        load = await at_rate(server.url, requests(count), rate_per_s=1 / every_s, keep_bodies=True)
    assert load.statuses == {202: count}
    for (_, seconds), body in zip(load.answers, load.bodies, strict=True):
        index = int(body[-4:])
        assert seconds >= answer_s * (index + 1) - every_s * index - 0.005, (index, seconds)
    assert load.wall_s >= answer_s * count


async def test_at_a_fixed_rate_a_generator_that_falls_behind_counts_its_delay_in_the_latency():
    """The event loop the generator runs on is held 0.3 s while request 0 is answered (the server shares it):
    request i, due 0.02 * i s after the start, cannot leave before 0.3 s, so its latency is at least
    0.3 - 0.02 * i, however fast its answer comes once sent."""
    held_s, every_s, count = 0.3, 0.02, 10

    def hold_the_loop_once(body: bytes, seen: Seen) -> list[bytes]:
        if len(seen.bodies) == 1:
            time.sleep(held_s)  # on purpose: the generator's loop stops meanwhile
        return [length_answer(202, body)]

    async with Server(hold_the_loop_once) as server:
        load = await at_rate(server.url, requests(count), rate_per_s=1 / every_s, keep_bodies=True)
    assert load.statuses == {202: count}
    for (_, seconds), body in zip(load.answers, load.bodies, strict=True):
        index = int(body[-4:])
        assert seconds >= held_s - every_s * index, (index, seconds)


async def test_at_a_fixed_rate_requests_start_on_schedule_each_on_a_free_connection():
    def stamp(body: bytes, _seen: Seen) -> list[bytes]:
        return [length_answer(202, b"%.6f" % time.perf_counter())]

    async with Server(stamp) as server:
        started = time.perf_counter()
        load = await at_rate(server.url, requests(10), rate_per_s=50, keep_bodies=True)
    stamps = sorted(float(body) - started for body in load.bodies)
    assert load.statuses == {202: 10}
    assert all(at >= index / 50 for index, at in enumerate(stamps)), stamps  # none sent before it was due
    assert load.wall_s >= 9 / 50


async def test_requests_at_once_each_hold_a_connection_and_answers_keep_the_requests_order():
    held: list[tuple[asyncio.Future, bytes]] = []

    def hold_until_all(body: bytes, _seen: Seen):
        answer = asyncio.get_running_loop().create_future()
        held.append((answer, body))
        if len(held) == 8:
            for waiting, asked in held:
                waiting.set_result([length_answer(200, b"answer to " + asked)])
        return answer

    async with Server(hold_until_all) as server:
        load = await at_once(server.url, requests(8))
    assert load.in_flight_peak == 8 and server.seen.connections == 8
    assert load.bodies == [b"answer to " + request.body for request in requests(8)]
    assert [status for status, _ in load.answers] == [200] * 8


async def test_the_generator_reports_its_own_cpu_and_wall_time():
    async with Server(echo) as server:
        load = await in_flight(server.url, requests(200), concurrency=5)
    assert load.statuses == {202: 200}
    assert load.wall_s > 0 and load.generator_cpu_s >= 0


async def test_a_request_is_written_once_with_its_head_and_body():
    pool = http_load.Connections("http://127.0.0.1:8080", 1)
    wire = pool.wire(Request("/v1/events", b'{"a":1}', {"Authorization": "Bearer k", "Prefer": "wait=10"}))
    assert wire == (
        b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 7\r\n"
        b'Authorization: Bearer k\r\nPrefer: wait=10\r\n\r\n{"a":1}'
    )
    with pytest.raises(AssertionError):
        pool.wire(Request("/v1/events", b"", {"X-Bad": "a\r\nInjected: 1"}))


def delayed(pieces: list[bytes], seconds: float) -> asyncio.Future:
    async def later() -> list[bytes]:
        await asyncio.sleep(seconds)
        return pieces

    return asyncio.ensure_future(later())
