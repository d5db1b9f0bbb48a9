"""Where each input partition stands in Kafka: its first offset, its end, and how far a group committed.

Read by reconciliation (every offset below the committed one must have an
outcome in `scheme.input_offsets`) and by the health report (consumer lag).
`KafkaOffsets` makes its clients for one reading and closes them after it;
`OffsetsReader` keeps one admin client and one consumer open across readings,
for a process that reads every few seconds (each new connection is a SASL/SCRAM
login, whose key derivation costs the client milliseconds of CPU).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

READ_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 5.0
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
            return await _read(admin, consumer, self.group, self.topics, assign=True)
        finally:
            await consumer.stop()
            await admin.close()

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


class OffsetsReader:
    """Where any consumer group stands on a set of topics, read through clients kept open between readings.

    One admin client (the groups' committed offsets, the topics' partitions) and one consumer without a
    group (the log's first and end offsets). The consumer is never assigned a partition, so it fetches
    nothing between readings (a topic it has not met yet costs one metadata round, ~0.1 s, the first time).
    A reading that fails, times out or is cancelled closes both clients, and the next reading makes new
    ones: a broker that restarted or went away costs one failed reading, as it did when every reading made
    its own clients. Readings take turns; `close()` ends the clients, at the owner's shutdown.
    """

    def __init__(self, bootstrap: str, options: dict | None = None) -> None:
        self.bootstrap, self.options = bootstrap, options or {}
        self._clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None
        self._turn = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._clients is not None

    async def partitions(self, group: str, topics: tuple[str, ...]) -> list[PartitionOffsets]:
        async with self._turn:
            try:
                return await asyncio.wait_for(self._partitions(group, topics), READ_TIMEOUT_S)
            except BaseException:  # an error, a timeout or a cancellation: the next reading starts afresh
                await self.close()
                raise

    async def _partitions(self, group: str, topics: tuple[str, ...]) -> list[PartitionOffsets]:
        if self._clients is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap, request_timeout_ms=5_000, **self.options
            )
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False, **self.options
            )
            self._clients = (admin, consumer)  # closed by `partitions` if starting them fails
            await admin.start()
            await consumer.start()
        return await _read(*self._clients, group, topics, assign=False)

    async def close(self) -> None:
        """Both clients closed, whatever either raises; bounded, so a broker away cannot hold a shutdown."""
        clients, self._clients = self._clients, None
        if clients is None:
            return
        admin, consumer = clients
        try:
            await asyncio.wait_for(
                asyncio.gather(consumer.stop(), admin.close(), return_exceptions=True), CLOSE_TIMEOUT_S
            )
        except TimeoutError:
            pass


async def _read(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str, topics: tuple[str, ...], assign: bool
) -> list[PartitionOffsets]:
    """`group`'s committed offsets and the log's bounds, per partition of `topics`.

    `assign`: the consumer learns the topics' partitions first (an unknown partition costs a retry pause,
    ~0.6 s for the input topics), which makes it fetch in the background: for a consumer closed after."""
    committed = {
        tp: meta.offset
        for tp, meta in (await admin.list_consumer_group_offsets(group)).items()
        if meta.offset >= 0
    }
    described = await admin.describe_topics(list(topics))
    tps = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    if assign:
        consumer.assign(tps)
    starts, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
    return sorted(
        (PartitionOffsets(tp.topic, tp.partition, starts[tp], ends[tp], committed.get(tp)) for tp in tps),
        key=lambda p: (p.topic, p.partition),
    )
