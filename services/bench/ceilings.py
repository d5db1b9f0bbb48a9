"""Raw ceilings measured in the same run: Kafka with no processing, PostgreSQL COPY of journal lines."""
from __future__ import annotations

import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

CEILING_TOPIC = "takeback.bench.ceiling"


async def kafka_events_per_second(bootstrap: str, messages: list[tuple[str, bytes]], partitions: int,
                                  options: dict | None = None) -> float:
    """Produce (acks=all, idempotent) and consume the same messages, authenticated like every client (`options`);
    events over the whole span."""
    options = options or {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await admin.start()
    try:
        if CEILING_TOPIC not in await admin.list_topics():
            await admin.create_topics([NewTopic(CEILING_TOPIC, partitions, 1, topic_configs={"retention.ms": "600000"})])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
                                max_batch_size=512 * 1024, **options)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                fetch_max_bytes=50 * 1024 * 1024, **options)
    await producer.start()
    await consumer.start()
    try:
        tps = [TopicPartition(CEILING_TOPIC, p) for p in range(partitions)]
        consumer.assign(tps)
        for tp, offset in (await consumer.end_offsets(tps)).items():
            consumer.seek(tp, offset)
        started = time.perf_counter()
        futures = [await producer.send(CEILING_TOPIC, value, key=key.encode()) for key, value in messages]
        for future in futures:
            await future
        received = 0
        while received < len(messages):
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            received += sum(len(records) for records in batches.values())
        return len(messages) / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()


async def postgres_events_per_second(url: str, events: int, lines: int) -> float:
    """COPY as many journal lines as the events need into a table shaped like ledger.lines."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("CREATE TEMP TABLE ceiling_lines (LIKE ledger.lines INCLUDING DEFAULTS)")
        now = __import__("datetime").datetime.now(__import__("datetime").timezone.utc)
        entry = uuid.uuid4()
        records = []
        for i in range(lines):
            if i % 3 == 0:
                entry = uuid.uuid4()
            records.append((entry, i % 3 + 1, "liability:deposits", "EUR", 5000 if i % 2 else 0,
                            0 if i % 2 else 5000, now))
        started = time.perf_counter()
        await connection.copy_records_to_table("ceiling_lines", records=records)
        return events / (time.perf_counter() - started)
    finally:
        await connection.close()
