"""The ledger's consumer commits what it posted at most every `COMMIT_EVERY_S`, and all of it when it stops.

A commit is a write to the broker's offsets log; after every batch it was most of the broker's requests
at the return counter's pace. What is posted and not yet committed is read again by whoever reads next,
and posting it again changes nothing (tests/integration/test_exactly_once.py, test_restart.py).
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.ledger.adapters import postings_consumer
from services.ledger.adapters.postings_consumer import PostingsConsumer
from tests.conftest import kafka_options, unique, wait_for

PARTITIONS = 2


async def _committed(admin: AIOKafkaAdminClient, group: str, topic: str) -> int:
    offsets = await admin.list_consumer_group_offsets(group)
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


async def _read(consumer: PostingsConsumer, count: int) -> int:
    """Read and commit (as the worker does after posting) until `count` messages; the batches it took."""
    seen = batches = 0
    while seen < count:
        messages = await consumer.next_batch()
        if messages:
            await consumer.commit(messages)
            seen, batches = seen + len(messages), batches + 1
    return batches


async def test_the_ledger_consumer_commits_at_most_every_interval_and_everything_when_it_stops(
    stack, settings, monkeypatch
):
    topic, group = unique("takeback.test.ledger-commits"), unique("takeback-test-ledger")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **kafka_options())
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, **kafka_options())
    await admin.start()
    await producer.start()
    consumer = None
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])

        async def produce(count: int) -> None:
            for n in range(count):
                await producer.send(topic, f"posting-{n}".encode(), key=str(n).encode(), partition=n % 2)
            await producer.flush()

        await produce(40)
        monkeypatch.setattr(postings_consumer, "COMMIT_EVERY_S", 3600.0)  # no commit while it reads
        consumer = PostingsConsumer(
            settings.kafka_bootstrap, 5, 50, topic=topic, options=kafka_options(), group=group
        )
        await consumer.start()
        assert await _read(consumer, 40) >= 8  # batches of 5 at most
        assert await _committed(admin, group, topic) == 0  # posted, noted, not committed

        monkeypatch.setattr(postings_consumer, "COMMIT_EVERY_S", 0.2)
        await asyncio.sleep(0.3)
        await consumer.commit_due()  # as the worker does while idle
        assert await _committed(admin, group, topic) == 40

        monkeypatch.setattr(postings_consumer, "COMMIT_EVERY_S", 3600.0)
        await produce(10)
        await _read(consumer, 10)
        assert await _committed(admin, group, topic) == 40
        await consumer.stop()  # everything posted is committed before it leaves the group
        consumer = None

        async def all_committed() -> bool:
            return await _committed(admin, group, topic) == 50

        await wait_for(all_committed, timeout_s=10.0)
        offsets = await admin.list_consumer_group_offsets(group)
        assert {tp.partition for tp in offsets if tp.topic == topic} == set(range(PARTITIONS))
    finally:
        if consumer is not None:
            await consumer.stop()
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()
