"""Raw ceilings measured in the same run: Kafka with no processing, PostgreSQL COPY of journal rows."""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts import accounts
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
    owner_url: str, events: int, batteries: int, sample_events: int, names: scenario.Names | None = None
) -> float:
    """COPY as many journal rows as `sample_events` of the run's events call for, each shaped like the widest
    the run writes (`widest_entry_records`), into a table made like `ledger.entries` (`ceiling_table`), as the
    owner; events a second over the COPY alone.
    """
    wanted = max(1, scenario.expected_entries(batteries) * sample_events // events)
    records = widest_entry_records(wanted, names or scenario.Names(run=f"B{uuid.uuid4().hex[:8]}"))
    connection = await asyncpg.connect(owner_url)
    try:
        async with ceiling_table(connection) as table:
            started = time.perf_counter()
            await connection.copy_records_to_table(
                table, schema_name=CEILING_SCHEMA, records=records, columns=ENTRY_COLUMNS
            )
            return sample_events / (time.perf_counter() - started)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def ceiling_table(connection: asyncpg.Connection) -> AsyncIterator[str]:
    """A table of the bench's own schema made `LIKE ledger.entries INCLUDING ALL`, dropped afterwards (and the
    schema with it when no other run holds a table there): WAL-logged (neither temporary nor unlogged), with
    the journal's primary key, indexes, defaults and CHECK constraints (the lines' balance, the id derived
    from the posting key), and a sequence of its own. What it does not have: the journal's append-only
    triggers (they fire on UPDATE, DELETE and TRUNCATE, never on a COPY) and its rows already there.
    """
    table = f"entries_{uuid.uuid4().hex[:12]}"
    await connection.execute(
        f"CREATE SCHEMA IF NOT EXISTS {CEILING_SCHEMA}; "
        f"CREATE TABLE {CEILING_SCHEMA}.{table} (LIKE ledger.entries INCLUDING ALL)"
    )
    try:
        await _own_sequences(connection, table)
        persistence, primary_key = await connection.fetchrow(
            """SELECT c.relpersistence::text, EXISTS (SELECT FROM pg_constraint k WHERE k.conrelid = c.oid
                                                   AND k.contype = 'p')
                 FROM pg_class c WHERE c.oid = to_regclass($1)""",
            f"{CEILING_SCHEMA}.{table}",
        )
        if persistence != "p" or not primary_key:  # the measure would not be the journal's
            raise RuntimeError(f"the ceiling's table is not logged with a primary key ({persistence!r})")
        yield table
    finally:
        await connection.execute(f"DROP TABLE IF EXISTS {CEILING_SCHEMA}.{table} CASCADE")
        try:
            await connection.execute(f"DROP SCHEMA IF EXISTS {CEILING_SCHEMA}")
        except asyncpg.DependentObjectsStillExistError:  # another run's table is there: its run drops it
            pass


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


def widest_entry_records(count: int, names: scenario.Names) -> list[tuple]:
    """`count` journal rows shaped like the widest the run writes: a battery's sale entry (three lines, where
    a refund or a recovery has two), with the run's own names, keys and amounts, as the stream workers post
    it and the ledger copies it (`ENTRY_COLUMNS`; tests/unit/test_bench_ceiling.py holds it to the streams'
    own `sale_item` posting)."""
    now = datetime.now(UTC)
    store = accounts.store_clearing(names.store)
    lines = (store, accounts.LIABILITY, accounts.FUND)
    debits, credits = (
        (scenario.DEPOSIT + scenario.RECYCLING_FEE, 0, 0),
        (0, scenario.DEPOSIT, scenario.RECYCLING_FEE),
    )
    currencies = (scenario.CURRENCY,) * len(lines)
    records = []
    for i in range(count):
        serial = names.serial(i)
        key = f"sale:{names.sale_id(i - i % scenario.ITEMS_PER_SALE)}:{serial}"
        records.append(
            (
                entry_id_for(key),
                key,
                "sale",
                serial,
                uuid.uuid4(),
                None,
                now,
                now,
                hashlib.sha256(key.encode()).digest(),
                lines,
                currencies,
                debits,
                credits,
            )
        )
    return records
