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

Offsets posted are committed at most every `COMMIT_EVERY_S` (and at once when
partitions are revoked and when the consumer stops), not after every batch: a
commit is a write to the broker's offsets log and a round trip the next batch
waited for. A worker killed meanwhile leaves at most that long of postings to
be read again, and posting them again changes nothing.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, RebalanceInProgressError

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
COMMIT_EVERY_S = 1.0  # offsets posted are committed this often at most (and at revocation and stop)


class _WaitForBatch(ConsumerRebalanceListener):
    def __init__(self, consumer: PostingsConsumer) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked) -> None:
        async with self.consumer.batch_lock:  # the batch in hand is posted, and all posted committed, first
            await self.consumer.flush()
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
        group: str = GROUP_ID,
    ) -> None:
        self.batch_max, self.wait_ms, self.topic = batch_max, wait_ms, topic
        self.batch_lock = asyncio.Lock()
        self.assigned = False
        self._posted: dict[TopicPartition, int] = {}  # each partition's offset to commit, not committed yet
        self._committed_at = time.monotonic()
        self.kafka = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
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
        async with self.batch_lock:
            try:
                await self.flush()
            except KafkaError as error:  # the broker is away: what is posted is read again (changes nothing)
                log.warning("ledger_commit_at_stop_failed", error=str(error))
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
        """The batch is posted: commit past its last message of each partition, with whatever else is posted
        and not committed, once `COMMIT_EVERY_S` has passed since the last commit."""
        for message in messages:
            partition = TopicPartition(message.topic, message.partition)
            self._posted[partition] = max(self._posted.get(partition, 0), message.offset + 1)
        await self.commit_due()

    async def commit_due(self) -> None:
        """Commit what is posted if `COMMIT_EVERY_S` has passed since the last commit (also while idle)."""
        if self._posted and time.monotonic() - self._committed_at >= COMMIT_EVERY_S:
            await self.flush()

    async def flush(self) -> None:
        """Commit what is posted now; a lost race with a rebalance is harmless."""
        offsets, self._posted = self._posted, {}
        if not offsets:
            return
        self._committed_at = time.monotonic()
        try:
            await self.kafka.commit(offsets)
        except (CommitFailedError, IllegalStateError, RebalanceInProgressError) as error:
            log.warning("ledger_commit_skipped", error=str(error), partitions=len(offsets))
