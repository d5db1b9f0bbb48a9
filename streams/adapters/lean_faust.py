"""faust's per-message bookkeeping that this app never reads, left out (issue 13: a worker's fixed costs).

For every message, faust's conductor asks the producer's buffer whether to wait for it to drain, and its
default sensor (the `Monitor`) counts and times every message and every event four times over. This app
sends nothing through faust (its relay has a producer of its own) and its figures are its own Prometheus
metrics. What stays: the same drain test, should faust ever hold messages to send, and the time each
partition's stream last took an event, which faust's stall detector (`verify_event_path`) reads.
"""

from __future__ import annotations

import asyncio
from time import monotonic
from typing import Any

import faust
from faust.sensors import Monitor
from mode.services import WaitResults


class LeanApp(faust.App):
    """A faust app whose producer buffer answers the conductor's per-message question cheaply, and whose
    consumer hands a message over without four tasks when nothing can make it wait."""

    def _new_producer(self) -> Any:
        producer = super()._new_producer()
        drain_test_on_the_queue(producer.buffer)
        return producer

    fetch_wait_ms = 0  # 0: the Kafka client's fetches as faust makes them; else `fetches_wait_at_the_broker`
    fetch_min_bytes = 1

    def waiting_for_fetches(self, wait_ms: int, min_bytes: int) -> LeanApp:
        self.fetch_wait_ms, self.fetch_min_bytes = wait_ms, min_bytes
        return self

    def _new_consumer(self) -> Any:
        consumer = super()._new_consumer()
        deliver_inline_when_nothing_waits(consumer, self)
        if self.fetch_wait_ms:
            fetches_wait_at_the_broker(consumer, self.fetch_wait_ms, self.fetch_min_bytes)
        return consumer


def fetches_wait_at_the_broker(consumer: Any, wait_ms: int, min_bytes: int) -> None:
    """The Kafka client's fetches answered once the broker holds `min_bytes` for them, or after `wait_ms`.

    faust makes its client with `fetch_max_wait_ms=1500` and the client's `fetch_min_bytes` of 1: the broker
    answers a fetch as soon as it holds one record. Fed a few events at a time (the gateway's load), a worker
    then makes a fetch for every few events, and each costs its client the same whatever it carries."""
    thread = consumer._thread  # faust's consumer thread: it makes the client when it starts
    create = thread._create_worker_consumer

    def create_waiting(transport: Any) -> Any:
        client = create(transport)
        client._fetch_max_wait_ms = wait_ms  # both read by the client's fetcher when it starts
        client._fetch_min_bytes = min_bytes
        return client

    thread._create_worker_consumer = create_waiting


def drain_test_on_the_queue(buffer: Any) -> None:
    """The buffer's own `wait_until_ebb`, on its queue's length: faust's reads the `producer_threaded`
    setting through its settings registry on every message (2-3 % of a stream worker's busy samples)."""
    assert not buffer.app.conf.producer_threaded, "a threaded producer keeps its messages in another queue"
    pending, limit, drain = buffer.pending, buffer.max_messages, buffer.wait_until_ebb

    async def wait_until_ebb() -> None:
        if pending.qsize() > limit:
            await drain()

    buffer.wait_until_ebb = wait_until_ebb


def deliver_inline_when_nothing_waits(consumer: Any, app: LeanApp) -> None:
    """faust's consumer hands each fetched message to the conductor with
    `wait_first(callback(message), suspend_flow.wait())`: the callback, or less if the flow is suspended
    (a rebalance) or the consumer stops first. That makes four tasks and an `asyncio.wait` a message
    (`mode`'s `wait_first` also waits on the service's stopped and crashed events): with nothing else to
    do, over 40 % of a worker's CPU (`scripts/floor.py`: 0.139 ms an event, 0.079 without them).

    The callback can wait only for four things: the app's flow control (suspended during a rebalance), the
    conductor's lock on its callbacks (held while they are rebuilt for new partitions), the producer's
    buffer (never filled: this app sends nothing through faust) and a channel's buffer that is full. When
    none of them would make it wait, and the flow is not suspended and the consumer not stopping, the
    callback runs to its end without giving the event loop a turn: nothing can set the flow's suspension or
    stop the consumer before it ends, so the callback is the first to finish, as `wait_first` would find.
    Then it is awaited directly, and the suspension's waiter, never started, is closed; the loop still
    gets a turn after each message, as with faust's wait (without it the stream took the events in
    bursts and read half as fast). In every other case (and for any other call of `wait_first`), faust's
    own `wait_first`.
    """
    faust_wait_first = consumer.wait_first
    conductor = app.topics
    handoff = conductor.on_message.__code__  # the coroutine of `callback(message)`
    suspension = asyncio.Event.wait.__code__  # the coroutine of `suspend_flow.wait()`
    flow, lock, buffer = app.flow_control, conductor._tp_to_callback_lock, app.producer.buffer
    stopped, crashed, suspended = consumer._stopped, consumer._crashed, consumer.suspend_flow

    def nothing_waits() -> bool:
        return (
            flow.is_active()
            and not lock.locked()
            and not suspended.is_set()
            and not stopped.is_set()
            and not crashed.is_set()
            and buffer.pending.qsize() <= buffer.max_messages
            and not any(channel.queue.full() for channel in conductor._topics)
        )

    async def wait_first(*coros: Any, timeout: Any = None) -> Any:
        if (
            timeout is None
            and len(coros) == 2
            and getattr(coros[0], "cr_code", None) is handoff
            and getattr(coros[1], "cr_code", None) is suspension
            and nothing_waits()
        ):
            coros[1].close()
            result = await coros[0]
            await asyncio.sleep(0)  # a turn of the loop a message, as faust's wait gave: the stream takes it
            return WaitResults([coros[0]], [result], False)
        return await faust_wait_first(*coros, timeout=timeout)

    consumer.wait_first = wait_first


class StallWatch(Monitor):
    """faust's monitor, keeping of each event only the time its partition's stream took it."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = monotonic()

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None
