"""Where each input partition stands in Kafka: its first offset, its end, and how far a group committed.

Read by reconciliation (every offset below the committed one must have an
outcome in `scheme.input_offsets`) and by `takeback status` (consumer lag).
Short-lived clients: a reader is made for one reading and closed after it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

READ_TIMEOUT_S = 10.0
STREAMS_GROUP = "takeback-streams"
LEDGER_GROUP = "takeback-ledger"


@dataclass(frozen=True)
class PartitionOffsets:
    topic: str
    partition: int
    log_start: int  # the first offset still in the log
    end: int  # the offset the next message will get
    committed: int | None  # the group's next offset to read; None if it never committed

    @property
    def lag(self) -> int:
        return self.end - (self.committed if self.committed is not None else self.log_start)


class KafkaOffsets:
    """Offsets of a set of topics for one consumer group, and the raw messages at given offsets."""

    def __init__(
        self, bootstrap: str, group: str, topics: tuple[str, ...], options: dict | None = None
    ) -> None:
        self.bootstrap, self.group, self.topics = bootstrap, group, topics
        self.options = options or {}  # client options: credentials (services.common.kafka.client_options)

    async def partitions(self) -> list[PartitionOffsets]:
        return await asyncio.wait_for(self._partitions(), READ_TIMEOUT_S)

    async def _partitions(self) -> list[PartitionOffsets]:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap, request_timeout_ms=5_000, **self.options
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False, **self.options
        )
        try:
            await admin.start()
            await consumer.start()
            committed = {
                tp: meta.offset
                for tp, meta in (await admin.list_consumer_group_offsets(self.group)).items()
                if meta.offset >= 0
            }
            described = await admin.describe_topics(list(self.topics))
            tps = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
            consumer.assign(
                tps
            )  # the topics' metadata first: an unknown partition costs a retry pause (~0.6 s)
            starts, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        finally:
            await consumer.stop()
            await admin.close()
        return sorted(
            (PartitionOffsets(tp.topic, tp.partition, starts[tp], ends[tp], committed.get(tp)) for tp in tps),
            key=lambda p: (p.topic, p.partition),
        )

    async def messages(self, wanted: list[tuple[str, int, int]]) -> dict[tuple[str, int, int], bytes | None]:
        """The value at each (topic, partition, offset); an offset that holds no data record is left out."""
        return await asyncio.wait_for(self._messages(wanted), READ_TIMEOUT_S)

    async def _messages(self, wanted: list[tuple[str, int, int]]) -> dict[tuple[str, int, int], bytes | None]:
        found: dict[tuple[str, int, int], bytes | None] = {}
        if not wanted:
            return found
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False, **self.options
        )
        try:
            await consumer.start()
            by_partition: dict[TopicPartition, set[int]] = {}
            for topic, partition, offset in wanted:
                by_partition.setdefault(TopicPartition(topic, partition), set()).add(offset)
            consumer.assign(list(by_partition))
            for tp, offsets in by_partition.items():
                await self._read_partition(consumer, tp, offsets, found)
        finally:
            await consumer.stop()
        return found

    @staticmethod
    async def _read_partition(
        consumer: AIOKafkaConsumer, tp: TopicPartition, offsets: set[int], found: dict
    ) -> None:
        consumer.seek(tp, min(offsets))
        last = max(offsets)
        while True:
            records = (await consumer.getmany(tp, timeout_ms=1000, max_records=500)).get(tp, [])
            if not records:
                return  # nothing more to read: the rest hold no data record (markers, or gone)
            for record in records:
                if record.offset in offsets:
                    found[(tp.topic, tp.partition, record.offset)] = record.value
            if records[-1].offset >= last:
                return
