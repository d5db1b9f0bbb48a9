"""faust's per-message bookkeeping that this app never reads, left out (issue 13: a worker's fixed costs).

For every message, faust's conductor asks the producer's buffer whether to wait for it to drain, and its
default sensor (the `Monitor`) counts and times every message and every event four times over. This app
sends nothing through faust (its relay has a producer of its own) and its figures are its own Prometheus
metrics. What stays: the same drain test, should faust ever hold messages to send, and the time each
partition's stream last took an event, which faust's stall detector (`verify_event_path`) reads.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

import faust
from faust.sensors import Monitor


class LeanApp(faust.App):
    """A faust app whose producer buffer answers the conductor's per-message question cheaply."""

    def _new_producer(self) -> Any:
        producer = super()._new_producer()
        drain_test_on_the_queue(producer.buffer)
        return producer


def drain_test_on_the_queue(buffer: Any) -> None:
    """The buffer's own `wait_until_ebb`, on its queue's length: faust's reads the `producer_threaded`
    setting through its settings registry on every message (2-3 % of a stream worker's busy samples)."""
    assert not buffer.app.conf.producer_threaded, "a threaded producer keeps its messages in another queue"
    pending, limit, drain = buffer.pending, buffer.max_messages, buffer.wait_until_ebb

    async def wait_until_ebb() -> None:
        if pending.qsize() > limit:
            await drain()

    buffer.wait_until_ebb = wait_until_ebb


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
