"""How long, and how much process CPU, the outbox relay takes to publish N rows of scheme.outbox.

Not a test: a measurement of the relay alone. It writes N rows (default 50,000) into the
stack's `scheme.outbox` as the table's owner, in one transaction, all for a topic of their
own, then publishes them with the relay in this process and times that part only: wall
time and this process's CPU (the relay and its producer run here, nothing else does).

The stack's own relays must not publish the rows: the script holds the outbox's advisory
lock while it runs, and says so and stops if a streams worker holds it (stop the streams
workers first, `takeback up` brings them back).

    source <stack env> && .venv/bin/python scripts/relay_bench.py --rows 50000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.common.kafka import client_options
from services.common.outbox import Relay, create_producer
from services.common.settings import get_settings

TOPIC = "takeback.bench.relay"
SCHEMA = "scheme"
VALUE_BYTES = 600  # about an `entry.posted` of two lines


def value(index: int) -> bytes:
    body = {"event_id": str(uuid.uuid4()), "type": "bench.relay", "n": index}
    text = json.dumps(body)
    return (text[:-1] + ', "pad": "' + "x" * max(0, VALUE_BYTES - len(text) - 10) + '"}').encode()


async def ensure_topic(settings, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **client_options(settings))
    await admin.start()
    try:
        if TOPIC not in set(await admin.list_topics()):
            try:
                await admin.create_topics([NewTopic(TOPIC, num_partitions=partitions, replication_factor=1)])
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


async def main(rows: int, partitions: int, batch_max: int) -> dict:
    settings = get_settings()
    await ensure_topic(settings, partitions)
    pool = await asyncpg.create_pool(settings.database_owner_url, min_size=2, max_size=4)
    holder = await pool.acquire()
    try:
        if not await holder.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"outbox:{SCHEMA}"):
            raise SystemExit("another relay publishes scheme.outbox (a streams worker): stop it first")
        producer = create_producer(settings.kafka_bootstrap, client_options(settings))
        await producer.start()
        try:
            relay = Relay(pool, producer, SCHEMA, batch_max=batch_max, poll_s=0.05)
            while await relay.publish_once():  # whatever was pending before is not measured
                pass
            records = [(uuid.uuid4(), TOPIC, str(uuid.uuid4()), value(i)) for i in range(rows)]
            async with pool.acquire() as connection:
                await connection.copy_records_to_table(
                    "outbox",
                    schema_name=SCHEMA,
                    records=records,
                    columns=["event_id", "topic", "key", "value"],
                )
            relay.published = 0
            wall, cpu = time.perf_counter(), time.process_time()
            while await relay.publish_once():
                pass
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert relay.published == rows, (relay.published, rows)
            assert await relay.backlog() == 0
        finally:
            await producer.stop()
    finally:
        await holder.execute("SELECT pg_advisory_unlock(hashtext($1))", f"outbox:{SCHEMA}")
        await pool.release(holder)
        await pool.close()
    return {
        "rows": rows,
        "partitions": partitions,
        "batch_max": batch_max,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "rows_per_s": round(rows / wall),
        "cpu_us_per_row": round(cpu / rows * 1e6, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=get_settings().topic_partitions)
    parser.add_argument("--batch-max", type=int, default=get_settings().outbox_batch_max)
    arguments = parser.parse_args()
    print(json.dumps(asyncio.run(main(arguments.rows, arguments.partitions, arguments.batch_max))))
    sys.exit(0)
