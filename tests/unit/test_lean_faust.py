"""The stream workers' faust app leaves out the per-message bookkeeping nobody reads, and keeps what faust
itself relies on: the producer buffer's drain test, and the time each partition's stream last took an event
(its stall detector); and a consumer that hands a message to the conductor without faust's four-task wait
only when nothing can make that hand-over wait. No broker: faust's objects are made, never started."""

from __future__ import annotations

import asyncio
import gc

import pytest
from faust.sensors import Monitor
from faust.types.tuples import TP, Message

from services.common.settings import Settings
from streams.adapters.lean_faust import LeanApp, StallWatch, deliver_inline_when_nothing_waits
from streams.app import create_app, lean_app
from streams.bootstrap import Wiring

TP_IN = TP("takeback.sales", 3)


def _message(offset: int) -> Message:
    return Message(TP_IN.topic, TP_IN.partition, offset, 0.0, 0, [], b"key", b"value", 1)


class _Owner:
    pass


class _Stream:
    task_owner = _Owner()  # faust's monitor keys a weak reference to it


async def test_the_producer_buffer_waits_to_drain_exactly_when_it_holds_more_than_faust_allows(tmp_path):
    app = LeanApp("test-lean", broker="kafka://127.0.0.1:1", datadir=str(tmp_path))
    buffer = app.producer.buffer
    drained: list[int] = []

    async def flush_atmost(n: int) -> int:  # faust's wait_until_ebb drains by this
        drained.append(buffer.pending.qsize())
        return 0

    buffer.flush_atmost = flush_atmost
    for size in (0, buffer.max_messages, buffer.max_messages + 1):
        while buffer.pending.qsize() < size:
            buffer.pending.put_nowait(object())
        await buffer.wait_until_ebb()
    assert drained == [buffer.max_messages + 1]


def test_the_stall_watch_keeps_when_each_partitions_stream_took_an_event_and_counts_nothing():
    watch, monitor, stream = StallWatch(), Monitor(), _Stream()
    for sensor in (watch, monitor):
        message = _message(7)
        sensor.on_message_in(TP_IN, 7, message)
        state = sensor.on_stream_event_in(TP_IN, 7, stream, None)
        sensor.on_stream_event_out(TP_IN, 7, stream, None, state)
        sensor.on_message_out(TP_IN, 7, message)
    assert set(watch.stream_inbound_time) == set(monitor.stream_inbound_time) == {TP_IN}
    assert (watch.messages_received_total, watch.events_total, len(watch.events_runtime)) == (0, 0, 0)
    assert (monitor.messages_received_total, monitor.events_total, len(monitor.events_runtime)) == (1, 1, 1)


def test_the_stream_workers_app_is_the_lean_one_with_the_stall_watch(tmp_path):
    app = create_app(Settings(state_dir=tmp_path), Wiring())
    assert isinstance(app, LeanApp)
    assert isinstance(app.monitor, StallWatch)
    assert not app.conf.producer_threaded


class _Handoff:
    """A LeanApp's consumer with faust's own `wait_first` recorded, and a partition whose messages the
    conductor hands to `delivered`."""

    def __init__(self, tmp_path) -> None:
        self.app = LeanApp("test-lean", broker="kafka://127.0.0.1:1", datadir=str(tmp_path))
        self.consumer = consumer = self.app.consumer
        self.faust_calls: list[tuple] = []
        faust_wait_first = type(consumer).wait_first

        async def recorded(*coros, timeout=None):
            self.faust_calls.append(coros)
            return await faust_wait_first(consumer, *coros, timeout=timeout)

        consumer.wait_first = recorded
        deliver_inline_when_nothing_waits(consumer, self.app)  # over the recorded one
        self.delivered: list[Message] = []

        async def to_the_stream(message: Message) -> None:
            self.delivered.append(message)

        self.app.topics._tp_to_callback[TP_IN] = to_the_stream
        self.app.flow_control.resume()  # as faust does once partitions are assigned

    def hand_over(self, offset: int):
        """The call faust's consumer makes for each fetched message."""
        return self.consumer.wait_first(
            self.app.topics.on_message(_message(offset)), self.consumer.suspend_flow.wait()
        )


async def test_a_message_is_handed_over_without_fausts_wait_when_nothing_can_make_it_wait(tmp_path, recwarn):
    handoff = _Handoff(tmp_path)
    result = await handoff.hand_over(1)
    assert [m.offset for m in handoff.delivered] == [1]
    assert handoff.faust_calls == []
    assert (len(result.done), result.results, result.stopped) == (1, [None], False)
    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]  # the suspension's waiter closed


@pytest.mark.parametrize("blocker", ["flow_suspended", "consumer_suspended", "consumer_stopped"])
async def test_a_message_goes_through_fausts_wait_when_the_flow_is_suspended_or_the_consumer_stops(
    tmp_path, blocker
):
    handoff = _Handoff(tmp_path)
    if blocker == "flow_suspended":
        handoff.app.flow_control.suspend()
    elif blocker == "consumer_suspended":
        handoff.consumer.suspend_flow.set()
    else:
        handoff.consumer._stopped.set()
    await handoff.hand_over(2)
    assert len(handoff.faust_calls) == 1


async def test_a_message_waits_in_fausts_wait_while_the_conductor_rebuilds_its_callbacks(tmp_path):
    handoff = _Handoff(tmp_path)
    async with handoff.app.topics._tp_to_callback_lock:
        waiting = asyncio.ensure_future(handoff.hand_over(3))
        await asyncio.sleep(0.05)
        assert len(handoff.faust_calls) == 1 and handoff.delivered == [] and not waiting.done()
    await asyncio.wait_for(waiting, 5)
    assert [m.offset for m in handoff.delivered] == [3]


async def test_a_message_waits_in_fausts_wait_when_a_channels_buffer_is_full(tmp_path):
    handoff = _Handoff(tmp_path)
    channel = handoff.app.topic("takeback.sales").clone(is_iterator=True)
    handoff.app.topics._topics.add(channel)
    while not channel.queue.full():
        channel.queue.put_nowait(object())
    await handoff.hand_over(4)
    assert len(handoff.faust_calls) == 1


async def test_any_other_wait_is_fausts_own(tmp_path):
    handoff = _Handoff(tmp_path)

    async def something_else() -> int:
        return 7

    result = await handoff.consumer.wait_first(something_else(), handoff.consumer.suspend_flow.wait())
    assert len(handoff.faust_calls) == 1 and result.results == [7]


@pytest.mark.parametrize("wait_ms, min_bytes", [(10, 65_536), (3, 1024)])
async def test_the_stream_workers_fetches_wait_at_the_broker_as_their_settings_say(
    tmp_path, wait_ms, min_bytes
):
    settings = Settings(state_dir=tmp_path, fetch_wait_ms=wait_ms, fetch_min_bytes=min_bytes)
    app = lean_app(settings, "test-fetch-wait")
    thread = app.consumer._thread
    client = thread._create_worker_consumer(app.transport)  # the Kafka client its thread makes at start
    try:
        assert (client._fetch_max_wait_ms, client._fetch_min_bytes) == (wait_ms, min_bytes)
    finally:
        await client.stop()


async def test_no_fetch_wait_leaves_the_client_as_faust_makes_it(tmp_path):
    app = lean_app(Settings(state_dir=tmp_path, fetch_wait_ms=0), "test-fetch-at-once")
    client = app.consumer._thread._create_worker_consumer(app.transport)
    try:
        assert (client._fetch_max_wait_ms, client._fetch_min_bytes) == (1500, 1)  # faust's and the client's
    finally:
        await client.stop()
