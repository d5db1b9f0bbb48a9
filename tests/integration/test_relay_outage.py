"""The outbox relay outlives a Kafka outage: what was not acknowledged stays in the outbox and goes out later."""
from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from services.common.outbox import OutboxMessage, Relay, create_producer, write
from tests.conftest import unique, wait_for

TOPIC = "takeback.test.relay"
OUTAGE_S = 3.0


@pytest.fixture
async def outbox_schema(superuser_url, pool):
    schema = unique("relaytest").replace("-", "_")
    admin = await asyncpg.connect(superuser_url)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}; "
                            f"CREATE TABLE {schema}.outbox (LIKE scheme.outbox INCLUDING ALL); "
                            f"GRANT USAGE ON SCHEMA {schema} TO takeback; "
                            f"GRANT SELECT, INSERT, UPDATE ON {schema}.outbox TO takeback; "
                            f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO takeback")
        yield schema
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def add(pool, schema: str) -> None:
    async with pool.acquire() as connection:
        await write(connection, schema, [OutboxMessage(str(uuid.uuid4()), TOPIC, "k", b'{"n": 1}')])


@pytest.mark.restarts_stack
async def test_the_relay_keeps_what_kafka_did_not_take_and_sends_it_when_kafka_returns(stack, settings, pool,
                                                                                       outbox_schema):
    producer = create_producer(settings.kafka_bootstrap)
    await producer.start()
    relay = Relay(pool, producer, outbox_schema, batch_max=100, poll_s=0.05)
    task = asyncio.create_task(relay.run_forever())
    unpublished = f"SELECT count(*) FROM {outbox_schema}.outbox WHERE published_at IS NULL"
    try:
        await add(pool, outbox_schema)
        await wait_for(lambda: _is(pool, unpublished, 0))
        stack.kafka.stop()
        await add(pool, outbox_schema)
        await asyncio.sleep(OUTAGE_S)
        assert await pool.fetchval(unpublished) == 1
        assert not task.done()
        await asyncio.to_thread(stack._kafka_up)  # it runs its own event loop
        await wait_for(lambda: _is(pool, unpublished, 0), timeout_s=120)
        assert not task.done()
    finally:
        task.cancel()
        await producer.stop()


async def _is(pool, sql: str, value: int) -> bool:
    return await pool.fetchval(sql) == value
