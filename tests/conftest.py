"""Shared fixtures: the real local stack (Kafka, PostgreSQL, services) and clients of it.

The stack is started by `takeback up` (the test command does it first); the
session fixture calls the same code, which is harmless when it is already up.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiokafka import AIOKafkaProducer

from infra.local.stack import Stack
from services.common import db_roles
from services.common.db import create_pool
from services.common.kafka import client_options, events_producer
from services.common.settings import get_settings

# The suite's own stack, whoever starts pytest: a variable not set takes its value from
# scripts/test-stack.env (what `scripts/test` sources) before any setting is read (settings are
# read when first asked for, never at import), so a bare `pytest` never reaches the stack
# `takeback up` serves with default settings, nor its data (tests/integration/test_isolation.py).
TEST_STACK_ENV = Path(__file__).resolve().parents[1] / "scripts" / "test-stack.env"
_TEST_STACK_LINE = re.compile(r'export (TAKEBACK_[A-Z0-9_]+)="\$\{\1:-(.*)\}"')


def suite_stack_defaults(root: Path = TEST_STACK_ENV.parents[1]) -> dict[str, str]:
    """name -> value of every variable scripts/test-stack.env sets when it is unset ($PWD: the checkout)."""
    found = {}
    for line in TEST_STACK_ENV.read_text().splitlines():
        if match := _TEST_STACK_LINE.fullmatch(line.strip()):
            found[match.group(1)] = match.group(2).replace("$PWD", str(root))
    return found


for _name, _value in suite_stack_defaults().items():
    os.environ.setdefault(_name, _value)

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
    """The read-only role (`takeback_reader`), as the command line reads: what a test looks at."""
    pool = await create_pool(settings.database_url)
    yield pool
    await pool.close()


async def _role_pool(settings, role: str):
    pool = await create_pool(settings.database_url_as(role))
    yield pool
    await pool.close()


# Each role's own connections, for what a test does in that role's stead (services/common/db_roles.py).
@pytest.fixture(scope="session")
async def streams_pool(stack, settings):
    """The streams' role: writes the scheme's records and its outbox, as applying events does."""
    async for pool in _role_pool(settings, db_roles.STREAMS):
        yield pool


@pytest.fixture(scope="session")
async def ledger_pool(stack, settings):
    """The ledger's role: posts to the journal and stores reconciliation runs."""
    async for pool in _role_pool(settings, db_roles.LEDGER):
        yield pool


@pytest.fixture(scope="session")
async def owner_pool(stack, settings):
    """The owner role: makes and revokes API keys, as `takeback keys` does."""
    async for pool in _role_pool(settings, db_roles.OWNER):
        yield pool


@pytest.fixture(scope="session")
def superuser_url(stack, settings):
    database = urlsplit(settings.database_url).path.lstrip("/")
    return stack.local_cluster().superuser_url(database)


@pytest.fixture(scope="session")
async def producer(stack, settings):
    producer = events_producer(settings, acks="all", enable_idempotence=True)  # signed as the operator
    await producer.start()
    yield producer
    await producer.stop()


def kafka_options() -> dict:
    """The test stack's operator credential (SASL/SCRAM), as every client of the suite uses it."""
    return client_options(get_settings())


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat()


def envelope(
    event_type: str,
    source_kind: str,
    source_id: str,
    data: dict,
    event_id: str | None = None,
    occurred_at: str | None = None,
) -> dict:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "type": event_type,
        "version": 1,
        "occurred_at": occurred_at or now_rfc3339(),
        "source": {"kind": source_kind, "id": source_id},
        "data": data,
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


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class TopicReader:
    """Reads a topic from the end offsets it had when made: finds what a test caused."""

    def __init__(self, bootstrap: str, topic: str):
        self.bootstrap, self.topic = bootstrap, topic

    async def __aenter__(self):
        from aiokafka import AIOKafkaConsumer, TopicPartition

        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            **kafka_options(),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self.consumer.start()
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **kafka_options())
        await admin.start()
        try:
            [described] = await admin.describe_topics([self.topic])
        finally:
            await admin.close()
        partitions = [TopicPartition(self.topic, p["partition"]) for p in described["partitions"]]
        assert partitions, f"topic {self.topic} has no partitions"
        self.consumer.assign(partitions)
        for tp, offset in (await self.consumer.end_offsets(partitions)).items():
            self.consumer.seek(tp, offset)
        self.seen: list = []
        return self

    async def __aexit__(self, *exc):
        await self.consumer.stop()

    async def find(self, predicate, timeout_s: float = WAIT_TIMEOUT_S):
        """The first message (decoded JSON, or raw bytes) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout_s
        for value in self.seen:
            if predicate(value):
                return value
        while time.monotonic() < deadline:
            batches = await self.consumer.getmany(timeout_ms=200)
            # Every fetched record is kept before any is matched: a later find
            # must still see the records that came in the same fetch.
            fetched = []
            for records in batches.values():
                for record in records:
                    try:
                        fetched.append(json.loads(record.value))
                    except ValueError:
                        fetched.append(record.value)
            self.seen.extend(fetched)
            for value in fetched:
                if predicate(value):
                    return value
        raise AssertionError(f"no matching message on {self.topic} within {timeout_s} s")


@pytest.fixture
def topic_reader(settings):
    return lambda topic: TopicReader(settings.kafka_bootstrap, topic)


def pytest_collection_modifyitems(config, items):
    """Tests that restart the shared stack run last, so they slow nothing else."""
    items.sort(key=lambda item: item.get_closest_marker("restarts_stack") is not None)


# Modules whose cases are built while they are collected, at a cost worth a slow mark: collected only when the
# run selects slow tests (`-m slow`), so the default suite does not pay for what it deselects.
SLOW_TO_COLLECT = frozenset({"test_gateway_events_coverage.py"})


def pytest_ignore_collect(collection_path, config):
    if collection_path.name in SLOW_TO_COLLECT and not selects_slow(config.getoption("markexpr")):
        return True
    return None


def selects_slow(markexpr: str) -> bool:
    """Whether `-m markexpr` selects a test marked slow (and nothing else)."""
    from _pytest.mark.expression import Expression

    return not markexpr or Expression.compile(markexpr).evaluate(lambda name, **_: name == "slow")
