"""What a relay that died had already sent: read back from the tail of the topics it writes.

Every event out carries the header `takeback-outbox-seq` (its outbox row's seq).
A relay that takes over reads the newest messages of each partition of the
topics its unsent rows go to, backwards a chunk at a time, and treats the rows
it finds there as sent: Kafka acknowledged them to the relay that died before
its cursor moved. So a killed relay leaves no copies behind, but for a send
still in flight when it died.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

SEQ_HEADER = "takeback-outbox-seq"
CHUNK_MESSAGES = 200  # read back per step and partition
READ_BACK_MAX_MESSAGES = 20_000  # per partition: a relay never has more than a batch in flight
TIMEOUT_S = 15.0


class OutboxTail:
    def __init__(self, bootstrap: str, options: dict | None = None) -> None:
        self.bootstrap, self.options = bootstrap, options or {}

    async def already_sent(self, topics: set[str], pending: set[int]) -> set[int]:
        """The seqs of `pending` found in the tail of `topics`."""
        if not pending:
            return set()
        return await asyncio.wait_for(self._already_sent(topics, pending), TIMEOUT_S)

    async def _already_sent(self, topics: set[str], pending: set[int]) -> set[int]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False, **self.options
        )
        found: set[int] = set()
        try:
            await consumer.start()
            partitions = [
                TopicPartition(topic, p)
                for topic in sorted(topics)
                for p in sorted(consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
            ]
            consumer.assign(partitions)
            starts, ends = (
                await consumer.beginning_offsets(partitions),
                await consumer.end_offsets(partitions),
            )
            for tp in partitions:
                found |= await _read_back(consumer, tp, starts[tp], ends[tp], pending)
        finally:
            await consumer.stop()
        return found


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # the topic's partitions, once known to the client
    return consumer.partitions_for_topic(topic) or set()


async def _read_back(
    consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int, pending: set[int]
) -> set[int]:
    """Chunks from the end backwards, until a chunk holds none of the pending seqs."""
    found: set[int] = set()
    upper = end
    while upper > start and end - upper < READ_BACK_MAX_MESSAGES:
        lower = max(start, upper - CHUNK_MESSAGES)
        seqs = await _seqs_between(consumer, tp, lower, upper)
        hits = seqs & pending
        if not hits:
            break
        found |= hits
        upper = lower
    return found


async def _seqs_between(consumer: AIOKafkaConsumer, tp: TopicPartition, lower: int, upper: int) -> set[int]:
    consumer.seek(tp, lower)
    seqs: set[int] = set()
    position = lower
    while position < upper:
        records = (await consumer.getmany(tp, timeout_ms=1000, max_records=CHUNK_MESSAGES)).get(tp, [])
        if not records:
            break
        for record in records:
            if record.offset >= upper:
                return seqs
            for name, value in record.headers or ():
                if name == SEQ_HEADER:
                    seqs.add(int(value))
        position = records[-1].offset + 1
    return seqs
