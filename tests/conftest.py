"""Shared fixtures: the real local stack (Kafka, PostgreSQL, services) and clients of it.

The stack is started by `takeback up` (the test command does it first); the
session fixture calls the same code, which is harmless when it is already up.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timezone

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from infra.local.stack import Stack
from services.common.db import create_pool
from services.common.settings import get_settings

WAIT_TIMEOUT_S = 60.0


@pytest.fixture(scope="session")
def settings():
    return get_settings()


@pytest.fixture(scope="session")
def stack(settings):
    stack = Stack(settings, say=lambda message: None)
    stack.up()
    return stack


@pytest.fixture(scope="session")
async def pool(stack, settings):
    pool = await create_pool(settings.database_url)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def superuser_url(stack):
    return stack.local_cluster().superuser_url("takeback")


@pytest.fixture(scope="session")
async def producer(stack, settings):
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    yield producer
    await producer.stop()


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat()


def envelope(event_type: str, source_kind: str, source_id: str, data: dict, event_id: str | None = None,
             occurred_at: str | None = None) -> dict:
    return {
        "event_id": event_id or str(uuid.uuid4()), "type": event_type, "version": 1,
        "occurred_at": occurred_at or now_rfc3339(),
        "source": {"kind": source_kind, "id": source_id}, "data": data,
    }


async def send(producer: AIOKafkaProducer, topic: str, key: str, value: dict | bytes) -> None:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    await producer.send_and_wait(topic, raw, key=key.encode())


async def wait_for(check, timeout_s: float = WAIT_TIMEOUT_S, interval_s: float = 0.1):
    """Poll an async check until it returns something truthy; fail with the last value."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s (last value {value!r})")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
