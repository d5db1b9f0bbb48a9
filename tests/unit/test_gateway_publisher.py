"""The gateway's events to Kafka over several producers (services/gateway/adapters/event_publisher.py)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaTimeoutError

from services.gateway.adapters.event_publisher import KafkaEventPublisher
from services.gateway.domain.errors import EventLogUnavailable


class HeldProducer:
    """A producer whose sends wait until released (or fail with `error`); it notes what it was given."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.release = asyncio.Event()
        self.error: Exception | None = None

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.sent.append(value)
        await self.release.wait()
        if self.error is not None:
            raise self.error


async def test_each_event_goes_to_the_producer_with_the_fewest_in_flight():
    first, second = HeldProducer(), HeldProducer()
    publisher = KafkaEventPublisher([first, second])
    a = asyncio.create_task(publisher.publish("t", "k", b"a"))
    await asyncio.sleep(0)
    b = asyncio.create_task(publisher.publish("t", "k", b"b"))
    await asyncio.sleep(0)
    assert (first.sent, second.sent) == ([b"a"], [b"b"])  # the second producer was idle
    first.release.set()
    await a
    first.release.clear()
    c = asyncio.create_task(publisher.publish("t", "k", b"c"))
    await asyncio.sleep(0)
    assert first.sent == [b"a", b"c"]  # the first is idle again; the second still waits for its answer
    assert publisher.in_flight == [1, 1]
    first.release.set()
    second.release.set()
    await asyncio.gather(b, c)
    assert publisher.in_flight == [0, 0]


async def test_a_send_that_fails_is_no_longer_counted_in_flight():
    producer = HeldProducer()
    producer.error, publisher = KafkaTimeoutError(), KafkaEventPublisher([producer])
    producer.release.set()
    with pytest.raises(EventLogUnavailable):
        await publisher.publish("t", "k", b"a")
    assert publisher.in_flight == [0]
