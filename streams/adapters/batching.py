"""The stream's events in batches that close as soon as the stream has nothing more to give.

faust's `Stream.take_events(max_, within)` yields on a clock: `within` seconds after the agent took
the last batch, whatever has arrived meanwhile (at once if `max_` have). An event that arrives alone
waits for the clock (half of `within` on average, all of it when it arrives just after a tick), and
after each batch the agent idles a whole `within` even when events are already queued: contract
8.2's return counter, which waits for the outcome, pays both.

`take_ready` starts a batch with its first event and closes it when the consumer has nothing more
to give: a short pause (`idle_s`) brought no further event and the worker is not behind the log
(Kafka holds fewer than `BACKLOG_EVENTS` beyond the batch's last event in each of its partitions,
by the consumer's last fetch: `log_holds_more`; a few events always arrive meanwhile under a
steady load, and waiting for them would make the clock again).
Otherwise it closes when `max_` are buffered, or `max_wait_s` after its first event. So an event
alone is applied about `idle_s` after it arrived, while a worker behind the log (a backlog, a burst)
still fills its batches as the clock did, and does not spend a transaction on every few events.
While nothing arrives, no clock runs (only a look each `STOP_CHECK_S` whether the stream stopped).

The rest is `take_events`' own: the events are acknowledged only after the agent took the batch
and came back for the next one (it applies each batch before it asks again), the buffer never holds
more than `max_`, and the stream's acknowledgement mode is restored at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from mode.utils.aiter import aiter
from mode.utils.futures import notify

from services.common.logging import get_logger

log = get_logger(__name__)
BACKLOG_EVENTS = 100  # this many beyond a batch in one of its partitions: the worker is behind the log
STOP_CHECK_S = 1.0  # an idle batching loop looks this often whether its stream stopped


def log_holds_more(consumer: Any, backlog: int = BACKLOG_EVENTS) -> Callable[[list[Any]], bool]:
    """Whether Kafka holds at least `backlog` more events of one of these events' partitions than
    they reach, by the highwater the consumer (faust's) learnt at its last fetch."""

    def holds_more(events: list[Any]) -> bool:
        last = {event.message.tp: event.message.offset for event in events}  # in offset order per partition
        for tp, offset in last.items():
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # not assigned any more (a rebalance): nothing to wait for there
                continue
            if highwater is not None and highwater - (offset + 1) >= backlog:
                return True
        return False

    return holds_more


def _nothing_more(events: list[Any]) -> bool:
    return False


async def take_ready(
    stream: Any,
    max_: int,
    max_wait_s: float,
    idle_s: float,
    holds_more: Callable[[list[Any]], bool] = _nothing_more,
) -> AsyncIterator[list[Any]]:
    """Batches of `stream`'s events (faust `EventT`s), at most `max_` each; see the module's text.
    `holds_more(events)`: whether the log holds more after them (`log_holds_more`)."""
    events: list[Any] = []
    buffer_consumed = asyncio.Event()
    consuming: asyncio.Future | None = None  # set while the agent holds a batch: nothing is buffered then
    loop = asyncio.get_running_loop()
    # The batching loop's one wait: resolved by the buffer (its first event, or `max_`), or by a timer. A
    # future and a timer a wait: the stream's own `wait_for_stopped` makes a task of each thing it waits for
    # and an `asyncio.wait` of them, twice a batch, which cost a worker fed one event at a time a fifth of
    # its thread. The stream's stop is seen within `STOP_CHECK_S` (an agent stopped is cancelled at once).
    wake: asyncio.Future | None = None

    def woken() -> None:
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def until_woken(timeout_s: float) -> None:
        nonlocal wake
        wake = loop.create_future()
        timer = loop.call_later(timeout_s, woken)
        try:
            await wake
        finally:
            timer.cancel()
            wake = None

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        try:
            if consuming is not None:
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("the batch buffer found no current event")
            events.append(event)
            if len(events) == 1 or len(events) >= max_:
                woken()  # the loop waits for a first event, or fills the batch until it is full
            if len(events) >= max_:
                buffer_consumed.clear()
                await stream.wait(buffer_consumed)  # never more than max_ in a batch
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("batch_buffer_failed", error=repr(error))
            await stream.crash(error)
        return value

    acks_were_enabled = stream.enable_acks
    stream.enable_acks = False  # acknowledged below, once the agent is done with the batch
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))  # the stream feeds the buffer in the background
    try:
        while not stream.should_stop:
            while not events and not stream.should_stop:
                await until_woken(STOP_CHECK_S)  # idle: no clock but the stop's check
            deadline = loop.time() + max_wait_s
            seen = len(events)
            while seen and len(events) < max_ and not stream.should_stop:
                pause = min(idle_s, deadline - loop.time())
                if pause <= 0:
                    break
                await until_woken(pause)
                if len(events) == seen and not holds_more(events):
                    break  # nothing more came and the log holds no more: the consumer has nothing to give
                seen = len(events)
            if not events:
                continue
            batch = list(events)
            consuming = loop.create_future()
            try:
                yield batch
            finally:
                events.clear()
                for event in batch:
                    await stream.ack(event)
                notify(consuming)  # the buffer takes events again
                buffer_consumed.set()
    finally:
        stream.enable_acks = acks_were_enabled
        stream._processors.remove(add_to_buffer)
