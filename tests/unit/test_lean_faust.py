"""The stream workers' faust app leaves out the per-message bookkeeping nobody reads, and keeps what faust
itself relies on: the producer buffer's drain test, and the time each partition's stream last took an event
(its stall detector). No broker: faust's objects are made, never started."""

from __future__ import annotations

from faust.sensors import Monitor
from faust.types.tuples import TP, Message

from services.common.settings import Settings
from streams.adapters.lean_faust import LeanApp, StallWatch
from streams.app import create_app
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
