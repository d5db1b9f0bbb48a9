"""The stream workers' batches (`take_ready`): an event alone is not held for the batch's whole window,
events queued meanwhile come together, never more than the most a batch takes, and each is
acknowledged only once the agent is done with its batch. Run through faust's own agent test context
(no broker)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import faust

from streams.adapters.batching import log_holds_more, take_ready

MAX_WAIT_S = 3.0  # far longer than any pause below: a batch that waited for it would show


@dataclass
class Run:
    batches: list[tuple[float, list[bytes], bool]] = field(default_factory=list)  # (s, values, acked)
    events: list = field(default_factory=list)  # every event sent


async def _run(tmp_path, sends, max_events: int, idle_s: float, hold_s: float = 0.0, holds_more=None) -> Run:
    """`sends(put)` against an agent taking batches and holding each `hold_s`; what it took."""
    app = faust.App(
        "test-batching", broker="kafka://127.0.0.1:1", web_enabled=False, datadir=str(tmp_path / "faust")
    )
    run, started = Run(), time.perf_counter()

    @app.agent(app.topic("in", value_serializer="raw"))
    async def agent(stream):
        more = {} if holds_more is None else {"holds_more": holds_more}
        async for batch in take_ready(stream, max_events, MAX_WAIT_S, idle_s, **more):
            acked_early = any(event.message.acked for event in batch)
            run.batches.append((time.perf_counter() - started, [event.value for event in batch], acked_early))
            await asyncio.sleep(hold_s)

    async with agent.test_context() as running:

        async def put(value: bytes) -> None:
            run.events.append(await running.put(value))

        started = time.perf_counter()
        await sends(put)
        deadline = time.perf_counter() + 2 * MAX_WAIT_S
        while time.perf_counter() < deadline and sum(len(b[1]) for b in run.batches) < len(run.events):
            await asyncio.sleep(0.01)
        await asyncio.sleep(hold_s + 0.1)  # the agent comes back for the next batch: the last one is acked
    return run


async def test_an_event_alone_is_taken_without_waiting_for_the_batch_window(tmp_path):
    async def sends(put):
        await put(b"alone")

    run = await _run(tmp_path, sends, max_events=100, idle_s=0.01)
    assert [values for _, values, _ in run.batches] == [[b"alone"]]
    assert run.batches[0][0] < MAX_WAIT_S / 2


async def test_events_queued_while_a_batch_is_applied_come_together_never_more_than_the_most(tmp_path):
    async def sends(put):
        await put(b"first")
        await asyncio.sleep(0.1)  # the agent holds the first batch now
        for i in range(12):
            await put(b"e%d" % i)

    run = await _run(tmp_path, sends, max_events=5, idle_s=0.02, hold_s=0.5)
    values = [values for _, values, _ in run.batches]
    assert values[0] == [b"first"]
    assert [len(batch) for batch in values[1:]] == [5, 5, 2]
    assert [v for batch in values for v in batch] == [b"first", *(b"e%d" % i for i in range(12))]


async def test_each_event_is_acknowledged_only_after_the_agent_is_done_with_its_batch(tmp_path):
    async def sends(put):
        for i in range(7):
            await put(b"e%d" % i)

    run = await _run(tmp_path, sends, max_events=3, idle_s=0.05, hold_s=0.05)
    assert sum(len(values) for _, values, _ in run.batches) == 7
    assert not any(acked_early for _, _, acked_early in run.batches)
    assert all(event.message.acked for event in run.events)


async def test_a_batch_keeps_filling_while_the_log_holds_more_than_it_took(tmp_path):
    async def sends(put):
        for i in range(3):
            await put(b"e%d" % i)
            await asyncio.sleep(0.15)  # far longer than the pause that closes a batch

    run = await _run(tmp_path, sends, max_events=100, idle_s=0.02, holds_more=lambda events: len(events) < 3)
    assert [values for _, values, _ in run.batches] == [[b"e0", b"e1", b"e2"]]


class _Consumer:
    def __init__(self, highwaters: dict) -> None:
        self.highwaters = highwaters

    def highwater(self, tp):
        if tp not in self.highwaters:
            raise AssertionError("Partition is not assigned")
        return self.highwaters[tp]


@dataclass
class _Message:
    tp: tuple
    offset: int


@dataclass
class _Event:
    message: _Message


def test_the_log_holds_more_when_a_partition_s_highwater_is_past_the_last_event_taken():
    a, b, gone = ("t", 0), ("t", 1), ("t", 2)
    events = [
        _Event(_Message(a, 4)),
        _Event(_Message(b, 9)),
        _Event(_Message(a, 5)),
        _Event(_Message(gone, 1)),
    ]
    holds_more = log_holds_more(_Consumer({a: 6, b: 10}), backlog=1)  # highwater: the next offset written
    assert not holds_more(events)
    assert log_holds_more(_Consumer({a: 7, b: 10}), backlog=1)(events)
    assert log_holds_more(_Consumer({a: 6, b: 11}), backlog=1)(events)
    assert not log_holds_more(_Consumer({a: 6 + 99, b: 10}), backlog=100)(events)  # a few arrived meanwhile
    assert log_holds_more(_Consumer({a: 6 + 100, b: 10}), backlog=100)(events)  # behind the log
    assert not log_holds_more(_Consumer({a: None, b: None}), backlog=1)(events)  # not fetched yet
