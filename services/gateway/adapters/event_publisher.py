"""Events to Kafka with an idempotent producer (acks=all); a recording twin for unit tests."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from services.common.kafka import SigningProducer, events_producer
from services.common.settings import Settings
from services.gateway.domain.errors import BodyTooLarge, EventLogUnavailable

PRODUCE_TIMEOUT_S = 30.0
REQUEST_SIZE_HEADROOM_BYTES = 64 * 1024


def create_producer(settings: Settings) -> AIOKafkaProducer | SigningProducer:
    """The gateway's own principal; each event signed as the gateway (it checked the key's source).

    Concurrent requests share the producer's record batches: an event waits up to
    `gateway_produce_linger_ms` for others to join its batch, and while a request is in flight to the
    broker the events that come meanwhile gather for the next one."""
    return events_producer(
        settings,
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.gateway_produce_linger_ms,
        max_request_size=settings.http_body_max_bytes + REQUEST_SIZE_HEADROOM_BYTES,
        request_timeout_ms=15_000,
        partitioner=key_partitioner,
    )


_M = 0x5BD1E995  # murmur2's mixing constant
_U32 = 0xFFFFFFFF
_WORDS = [struct.Struct(f"<{count}I") for count in range(64)]  # keys up to 255 bytes: one prepared unpacker


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of a key (the Java client's `Utils.murmur2`, as an unsigned 32-bit integer): the same
    value as the Kafka client's own Python loop, a quarter of its work (the key's 4-byte words read at once,
    one mask an operation fewer), so an event goes to the partition every other producer picks for its key."""
    length = len(data)
    h = 0x9747B28C ^ length
    words = length >> 2
    unpack = (_WORDS[words] if words < len(_WORDS) else struct.Struct(f"<{words}I")).unpack_from
    for k in unpack(data):
        k = (k * _M) & _U32
        k = ((k ^ (k >> 24)) * _M) & _U32
        h = ((h * _M) & _U32) ^ k
    tail = length & 3
    if tail:
        base = length - tail
        if tail == 3:
            h ^= data[base + 2] << 16
        if tail >= 2:
            h ^= data[base + 1] << 8
        h = ((h ^ data[base]) * _M) & _U32
    h ^= h >> 13
    h = (h * _M) & _U32
    return h ^ (h >> 15)


def key_partitioner(key: bytes, all_partitions: list[int], available: list[int]) -> int:
    """The partition of a keyed event, as Kafka's default partitioner picks it (every event in has a key)."""
    return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]


class KafkaEventPublisher:
    """Each event to the producer with the fewest events in flight.

    A producer sends one request at a time to a broker (an idempotent producer keeps a partition's
    batches in order that way), so with one producer an event that comes while a request is in flight
    waits for that request's acknowledgement and then its own. Events of one request are never split;
    two requests sent at once have no order between them whichever producer takes them, and a client
    that waits for one answer before its next request gets its order kept (the first is acknowledged
    before the second is sent)."""

    def __init__(
        self,
        producers: Sequence[AIOKafkaProducer | SigningProducer],
        observe: Callable[[str, float], None] = lambda topic, s: None,
        timeout_s: float = PRODUCE_TIMEOUT_S,
    ) -> None:
        assert producers, "at least one producer"
        self.producers, self.observe, self.timeout_s = list(producers), observe, timeout_s
        self.in_flight = [0] * len(self.producers)

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        started = time.perf_counter()
        counts = self.in_flight
        chosen = counts.index(min(counts))
        counts[chosen] += 1
        try:
            async with asyncio.timeout(self.timeout_s):  # no task of its own per event, as `wait_for` makes
                await self.producers[chosen].send_and_wait(topic, value, key=key.encode())
            self.observe(topic, time.perf_counter() - started)
        except MessageSizeTooLargeError:
            raise BodyTooLarge("too_large", "the event is larger than the event log accepts") from None
        except (KafkaError, TimeoutError) as error:
            raise EventLogUnavailable(
                "event_log_unavailable",
                f"Kafka did not acknowledge the event ({type(error).__name__}); retry with the same event_id",
            ) from None
        finally:
            counts[chosen] -= 1


class RecordingEventPublisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, bytes]] = []

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        self.published.append((topic, key, value))
