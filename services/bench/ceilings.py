"""Raw ceilings measured in the same run: Kafka with no processing, PostgreSQL COPY of the journal entries."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.postings import entry_id_for
from services.bench import scenario

CEILING_TOPIC = "takeback.bench.ceiling"


async def kafka_events_per_second(
    bootstrap: str, messages: list[tuple[str, bytes]], partitions: int, options: dict | None = None
) -> float:
    """Produce (acks=all, idempotent) and consume the same messages, authenticated like every client
    (`options`);
    events over the whole span."""
    options = options or {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await admin.start()
    try:
        if CEILING_TOPIC not in await admin.list_topics():
            await admin.create_topics(
                [NewTopic(CEILING_TOPIC, partitions, 1, topic_configs={"retention.ms": "600000"})]
            )
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=512 * 1024,
        **options,
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        fetch_max_bytes=50 * 1024 * 1024,
        **options,
    )
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


async def postgres_events_per_second(
    owner_url: str, events: int, batteries: int, sample_events: int
) -> float:
    """COPY the journal entries `sample_events` of the run's events call for into a table made like
    `ledger.entries` (WAL-logged, with its primary key, indexes, defaults and CHECK constraints), as the
    owner.

    Entries in the run's mix: per battery a sale entry of three lines and a refund entry of two, per lot a
    recovery entry of two. The table lives in its own schema for the measure and is dropped afterwards.
    """
    wanted = max(1, scenario.expected_entries(batteries) * sample_events // events)
    records = _entry_records(wanted)
    table = f"entries_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(owner_url)
    try:
        await connection.execute(
            f"CREATE SCHEMA IF NOT EXISTS {CEILING_SCHEMA}; "
            f"CREATE TABLE {CEILING_SCHEMA}.{table} (LIKE ledger.entries INCLUDING ALL)"
        )
        await _own_sequences(connection, table)
        started = time.perf_counter()
        await connection.copy_records_to_table(
            table, schema_name=CEILING_SCHEMA, records=records, columns=ENTRY_COLUMNS
        )
        return sample_events / (time.perf_counter() - started)
    finally:
        try:
            await connection.execute(f"DROP TABLE IF EXISTS {CEILING_SCHEMA}.{table} CASCADE")
        finally:
            await connection.close()


async def _own_sequences(connection: asyncpg.Connection, table: str) -> None:
    """A column numbered by the journal's sequence gets a sequence of its own: the measure takes no journal
    number."""
    for row in await connection.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 "
        "AND column_default LIKE 'nextval(%'",
        CEILING_SCHEMA,
        table,
    ):
        sequence = f"{CEILING_SCHEMA}.{table}_{row['column_name']}"
        await connection.execute(
            f"CREATE SEQUENCE {sequence} OWNED BY {CEILING_SCHEMA}.{table}.{row['column_name']}; "
            f"ALTER TABLE {CEILING_SCHEMA}.{table} ALTER COLUMN {row['column_name']} "
            f"SET DEFAULT nextval('{sequence}')"
        )


CEILING_SCHEMA = "bench_ceiling"
ENTRY_COLUMNS = (
    "entry_id",
    "posting_key",
    "kind",
    "subject",
    "caused_by",
    "reverses",
    "effective_at",
    "posted_at",
    "content_hash",
    "accounts",
    "currencies",
    "debits",
    "credits",
)


def _entry_records(count: int) -> list[tuple]:
    """`count` journal entries shaped as the run's: sales (3 lines), refunds (2), a recovery a lot (2)."""
    now = datetime.now(UTC)
    records = []
    for i in range(count):
        serial = f"CEILING-{i // 2:09d}"
        if i % (2 * scenario.BATTERIES_PER_LOT + 1) == 2 * scenario.BATTERIES_PER_LOT:
            key, kind, subject = f"recovery:L{i}", "recovery", f"L{i}"
            accounts, debits, credits = ["fund:recycling", "payable:recycler:R1"], [9000, 0], [0, 9000]
        elif i % 2 == 0:
            key, kind, subject = f"sale:S{i}:{serial}", "sale", serial
            accounts = ["clearing:store:ST1", "liability:deposits", "fund:recycling"]
            debits, credits = [5800, 0, 0], [0, 5000, 800]
        else:
            key, kind, subject = f"refund:{serial}", "refund", serial
            accounts, debits, credits = ["liability:deposits", "clearing:centre:C1"], [5000, 0], [0, 5000]
        records.append(
            (
                entry_id_for(key),
                key,
                kind,
                subject,
                uuid.uuid4(),
                None,
                now,
                now,
                hashlib.sha256(key.encode()).digest(),
                accounts,
                ["EUR"] * len(accounts),
                debits,
                credits,
            )
        )
    return records
