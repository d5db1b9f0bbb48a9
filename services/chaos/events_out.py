"""The run's events out, read from their topics: copies per event_id, and the rejections of the run.

Events out are at least once with a stable event_id (contract 8.4): a copy is
a message whose event_id was seen before. Only the run's own events count: a
refund of its serials, an entry or discrepancy caused by an event it sent, a
rejection of an event it sent (by id, or by position for one too large to read).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts import topics

OUT_TOPICS = (topics.REFUNDS, topics.LEDGER, topics.REJECTIONS, topics.DISCREPANCIES)
FETCH_MS = 500
READ_BATCH_MAX = 5000


async def end_offsets(bootstrap: str, options: dict) -> dict[TopicPartition, int]:
    """Where each output partition ends now: the run's events out all come after. `options`: the client's
    authentication (`services.common.kafka.client_options`)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000, **options)
    await admin.start()
    try:
        described = await admin.describe_topics(list(OUT_TOPICS))
    finally:
        await admin.close()
    partitions = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **options
    )
    await consumer.start()
    try:
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


@dataclass
class EventsOut:
    run_prefix: str
    sent_ids: set[str]
    positions: set[tuple[str, int, int]]
    copies: dict[str, Counter] = field(default_factory=lambda: {t: Counter() for t in OUT_TOPICS})
    rejections_by_id: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    rejections_by_position: dict[tuple[str, int, int], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )

    def take(self, topic: str, value: bytes) -> None:
        event = orjson.loads(value)
        data = event["data"]
        if not self._ours(topic, data):
            return
        self.copies[topic][event["event_id"]] += 1
        if topic == topics.REJECTIONS:
            self.rejections_by_id[data.get("rejected_event_id")].add(data["reason"])
            self.rejections_by_position[(data["topic"], data["partition"], data["offset"])].add(
                data["reason"]
            )

    def _ours(self, topic: str, data: dict) -> bool:
        if topic == topics.REFUNDS:
            return data["serial"].startswith(self.run_prefix)
        if topic == topics.REJECTIONS:
            return data.get("rejected_event_id") in self.sent_ids or (
                (data["topic"], data["partition"], data["offset"]) in self.positions
            )
        return data.get("caused_by") in self.sent_ids

    def distinct(self, topic: str) -> int:
        return len(self.copies[topic])

    @property
    def messages(self) -> int:
        return sum(sum(c.values()) for c in self.copies.values())

    @property
    def events(self) -> int:
        return sum(len(c) for c in self.copies.values())


async def read(
    bootstrap: str,
    options: dict,
    starts: dict[TopicPartition, int],
    into: EventsOut,
    done: Callable[[EventsOut], bool],
    timeout_s: float,
) -> bool:
    """Read from `starts` to the end, again and again, until `done` or `timeout_s`; True if done."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        **options,
    )
    await consumer.start()
    try:
        consumer.assign(list(starts))
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            await _catch_up(consumer, into)
            if done(into):
                return True
            await asyncio.sleep(0.5)
        return False
    finally:
        await consumer.stop()


async def _catch_up(consumer: AIOKafkaConsumer, into: EventsOut) -> None:
    ends = await consumer.end_offsets(list(consumer.assignment()))
    while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
        batches = await consumer.getmany(timeout_ms=FETCH_MS, max_records=READ_BATCH_MAX)
        for tp, records in batches.items():
            for record in records:
                into.take(tp.topic, record.value)
