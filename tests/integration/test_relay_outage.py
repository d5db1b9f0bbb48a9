"""The outbox relay outlives a Kafka outage: what was not acknowledged stays in the outbox and goes out
later."""

from __future__ import annotations

import asyncio

import pytest

from services.common.kafka import client_options
from services.common.outbox import Relay, create_producer
from tests.conftest import wait_for
from tests.integration.outbox_support import add as add_row

OUTAGE_S = 3.0


@pytest.mark.restarts_stack
async def test_the_relay_keeps_what_kafka_did_not_take_and_sends_it_when_kafka_returns(
    stack, settings, streams_pool, outbox_schema
):
    producer = create_producer(settings.kafka_bootstrap, client_options(settings))
    await producer.start()
    relay = Relay(streams_pool, producer, outbox_schema, batch_max=100, poll_s=0.05)
    task = asyncio.create_task(relay.run_forever())
    try:
        await add(streams_pool, outbox_schema)
        await wait_for(lambda: _backlog_is(relay, 0))
        stack.kafka.stop()
        await add(streams_pool, outbox_schema)
        await asyncio.sleep(OUTAGE_S)
        assert await relay.backlog() == 1
        assert not task.done()
        await asyncio.to_thread(stack._kafka_up)  # it runs its own event loop
        await wait_for(lambda: _backlog_is(relay, 0), timeout_s=120)
        assert not task.done()
    finally:
        task.cancel()
        await producer.stop()


async def add(pool, schema: str) -> None:
    async with pool.acquire() as connection:
        await add_row(connection, schema)


async def _backlog_is(relay: Relay, value: int) -> bool:
    return await relay.backlog() == value
