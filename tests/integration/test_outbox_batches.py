"""The relay sends a window as record batches, one partition at a time, each where the default
partitioner puts it.

Consumers and the other producers rely on where a key lands, and on the order of
a key's events: every message is checked on the partition Kafka's default
partitioner gives its key, with its outbox seq in its header, in seq order.
"""

from __future__ import annotations

import json
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner

from services.common.kafka import client_options
from services.common.outbox import OutboxMessage, Relay, write
from services.common.outbox_tail import SEQ_HEADER
from tests.conftest import unique

PARTITIONS = 5  # not a power of two: the modulo is taken, not a mask
LARGE_BYTES = 200 * 1024  # a few of these fill a record batch: a partition gets several batches


async def make_topic(settings, partitions: int) -> str:
    name = unique("takeback.test.batches")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **client_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()
    return name


async def read_all(settings, topic: str, count: int) -> list:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_options(settings),
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        records: list = []
        for _ in range(100):
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                records.extend(batch)
            if len(records) >= count:
                break
        return records
    finally:
        await consumer.stop()


async def test_a_window_lands_on_the_default_partitioners_partitions_in_seq_order_with_its_headers(
    settings, streams_pool, outbox_schema, relay_producer
):
    topic = await make_topic(settings, PARTITIONS)
    keys = [f"battery-{i}" for i in range(23)] + [
        str(uuid.uuid4()) for _ in range(17)
    ]  # two lengths and more
    messages = []
    for n in range(400):
        pad = "x" * (LARGE_BYTES if n % 37 == 0 else 50)
        messages.append(
            OutboxMessage(uuid.uuid4(), topic, keys[n % len(keys)], json.dumps({"n": n, "pad": pad}).encode())
        )
    async with streams_pool.acquire() as connection:
        await write(connection, outbox_schema, messages[:150])
        await write(connection, outbox_schema, messages[150:])
    seq_of = {
        str(row["event_id"]): row["seq"]
        for row in await streams_pool.fetch(f"SELECT seq, event_id FROM {outbox_schema}.outbox")
    }

    relay = Relay(streams_pool, relay_producer, outbox_schema, batch_max=300, poll_s=0.05)
    assert [await relay.publish_once() for _ in range(3)] == [300, 100, 0]
    assert relay.published == 400 and relay.parked == 0

    records = await read_all(settings, topic, len(messages))
    assert len(records) == len(messages)  # each once
    partitioner, partitions = DefaultPartitioner(), list(range(PARTITIONS))
    n_of_seq = {seq_of[str(m.event_id)]: n for n, m in enumerate(messages)}
    by_partition: dict[int, list[int]] = {}
    for record in records:
        assert record.partition == partitioner(record.key, partitions, partitions)
        [(name, seq)] = record.headers
        assert name == SEQ_HEADER
        assert json.loads(record.value)["n"] == n_of_seq[int(seq)]  # the header is the row's own seq
        assert messages[n_of_seq[int(seq)]].key.encode() == record.key
        by_partition.setdefault(record.partition, []).append(int(seq))
    assert len(by_partition) == PARTITIONS
    for seqs in by_partition.values():
        assert seqs == sorted(seqs)  # in seq order, so each key's events are too


async def test_a_message_the_broker_refuses_is_parked_alone_and_the_rest_goes_on_in_order(
    settings, streams_pool, outbox_schema, relay_producer
):
    """A topic whose own limit is below the relay's: the broker refuses the batch holding the large message.

    Its rows are sent again one by one: only the large one is parked (with the broker's reason), the others
    land in order, and the producer goes on sending to that partition afterwards.
    """
    topic = unique("takeback.test.refused")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **client_options(settings))
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    topic, num_partitions=1, replication_factor=1, topic_configs={"max.message.bytes": "4000"}
                )
            ]
        )
    finally:
        await admin.close()

    def message(n: int, size: int = 10) -> OutboxMessage:
        return OutboxMessage(uuid.uuid4(), topic, "k", json.dumps({"n": n, "pad": "x" * size}).encode())

    relay = Relay(streams_pool, relay_producer, outbox_schema, batch_max=100, poll_s=0.05)
    async with streams_pool.acquire() as connection:
        await write(connection, outbox_schema, [message(0), message(1), message(2, size=6000), message(3)])
        assert await relay.publish_once() == 4
        await write(connection, outbox_schema, [message(4)])
        assert await relay.publish_once() == 1  # the producer still sends to that partition
    assert await relay.backlog() == 0
    assert relay.parked == 1 and relay.published == 4
    [parked] = await streams_pool.fetch(f"SELECT value_bytes, reason FROM {outbox_schema}.outbox_parked")
    assert parked["value_bytes"] > 6000 and "TooLarge" in parked["reason"]

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_options(settings),
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        seen: list[int] = []
        for _ in range(50):
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                seen.extend(json.loads(record.value)["n"] for record in batch)
            if len(seen) >= 4:
                break
    finally:
        await consumer.stop()
    assert seen == [0, 1, 3, 4]
