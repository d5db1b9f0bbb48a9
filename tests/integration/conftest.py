"""Fixtures of the outbox tests: a throwaway outbox schema, and a relay's producer on the test stack."""

from __future__ import annotations

import pytest

from services.common.kafka import client_options
from services.common.outbox import create_producer
from tests.integration.outbox_support import TOPIC, create_outbox_schema, drop_outbox_schema


@pytest.fixture
async def outbox_schema(superuser_url, streams_pool):
    schema = await create_outbox_schema(superuser_url)
    yield schema
    await drop_outbox_schema(superuser_url, schema)


@pytest.fixture
async def relay_producer(settings):
    producer = create_producer(settings.kafka_bootstrap, client_options(settings))
    await producer.start()
    await producer.send_and_wait(TOPIC, b"{}")  # the topic exists before a reader looks for its end
    yield producer
    await producer.stop()
