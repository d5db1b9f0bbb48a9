"""Reads `takeback.internal.postings` in batches; offsets are committed only after the batch is posted.

Why aiokafka and not a faust agent: the ledger keeps no stream state (no
tables, no windows), it only needs bounded batches and an explicit commit after
its PostgreSQL transaction (STYLE rule 9). A plain consumer-group consumer
gives exactly that: `getmany(max_records, timeout_ms)` bounds each batch by
count and wait, `commit(offsets)` runs after the transaction, and a rebalance
listener waits for the batch in hand before giving up its partitions, so
another worker seldom re-reads it (and when it does, posting is idempotent).
Faust would add a leader topic, a web server and a changelog machinery the
ledger does not use.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, RebalanceInProgressError

from contracts import topics
from services.common.logging import get_logger
from services.ledger.domain.batch import PostingMessage

log = get_logger(__name__)
GROUP_ID = "takeback-ledger"
# A batch is bounded by messages (batch_max) and by bytes: a message may carry up to 250 postings
# (about 100 kB), so about 1,300 postings a partition and 2,600 a fetch: one transaction of a few
# hundred milliseconds at most, which the last posting of the batch waits for.
FETCH_BYTES_MAX = 1024 * 1024
PARTITION_FETCH_BYTES_MAX = 512 * 1024


class _WaitForBatch(ConsumerRebalanceListener):
    def __init__(self, consumer: PostingsConsumer) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked) -> None:
        async with self.consumer.batch_lock:  # the batch in hand is posted and committed first
            log.info("ledger_partitions_revoked", partitions=sorted(str(tp) for tp in revoked))

    async def on_partitions_assigned(self, assigned) -> None:
        self.consumer.assigned = True
        log.info("ledger_partitions_assigned", partitions=sorted(str(tp) for tp in assigned))


class PostingsConsumer:
    def __init__(
        self,
        bootstrap: str,
        batch_max: int,
        wait_ms: int,
        topic: str = topics.POSTINGS,
        options: dict | None = None,
    ) -> None:
        self.batch_max, self.wait_ms, self.topic = batch_max, wait_ms, topic
        self.batch_lock = asyncio.Lock()
        self.assigned = False
        self.kafka = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=GROUP_ID,
            client_id="takeback-ledger",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=batch_max,
            fetch_max_bytes=FETCH_BYTES_MAX,
            max_partition_fetch_bytes=PARTITION_FETCH_BYTES_MAX,
            **(options or {}),
        )

    async def start(self) -> None:
        await self.kafka.start()
        self.kafka.subscribe([self.topic], listener=_WaitForBatch(self))

    async def stop(self) -> None:
        await self.kafka.stop()

    def ready(self) -> bool:
        return self.assigned

    async def next_batch(self) -> list[PostingMessage]:
        fetched = await self.kafka.getmany(timeout_ms=self.wait_ms, max_records=self.batch_max)
        return [
            PostingMessage(record.topic, record.partition, record.offset, record.key, record.value)
            for records in fetched.values()
            for record in records
        ]

    async def commit(self, messages: list[PostingMessage]) -> None:
        """Commit past the last message of each partition; a lost race with a rebalance is harmless."""
        offsets: dict[TopicPartition, int] = {}
        for message in messages:
            partition = TopicPartition(message.topic, message.partition)
            offsets[partition] = max(offsets.get(partition, 0), message.offset + 1)
        if not offsets:
            return
        try:
            await self.kafka.commit(offsets)
        except (CommitFailedError, IllegalStateError, RebalanceInProgressError) as error:
            log.warning("ledger_commit_skipped", error=str(error), partitions=len(offsets))
