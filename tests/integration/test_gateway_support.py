"""Support for the gateway's tests (no tests here): the real server in a subprocess, keys, Kafka reads.

The gateway runs as the stack runs it (`python -m services.gateway.entrypoints.server`),
on a free port, with a small body limit so the 413 tests stay cheap.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common.settings import PROJECT_ROOT
from services.gateway.adapters.key_repository import PostgresKeyRepository
from services.gateway.service_layer.keys import create_key, revoke_key
from tests.conftest import envelope, free_port, kafka_options, unique

TEST_BODY_MAX_BYTES = 64 * 1024
START_TIMEOUT_S = 90.0  # workers start in parallel; a machine busy with other work starts them slowly
CONSUME_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RunningGateway:
    url: str
    log_path: Path
    pid: int


@pytest.fixture(scope="module")
def gateway(stack, tmp_path_factory, request):
    """The module's own gateway; a module may add settings in a `GATEWAY_ENV` dict (e.g. rate limits).
    One worker process unless the module asks for more (its rate limits and memory are then one process's)."""
    log_path = tmp_path_factory.mktemp("gateway") / "gateway.log"
    server, url = start_gateway(stack, log_path, getattr(request.module, "GATEWAY_ENV", {}))
    try:
        yield RunningGateway(url, log_path, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=15)


def start_gateway(stack, log_path: Path, settings: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """The gateway as the stack runs it, on a free port, with `settings` over the tests' own (one worker
    unless they say otherwise), once healthy: (its process, its URL). Killed if it does not get healthy."""
    port = free_port()
    env = {
        **os.environ,
        **stack.database_env("gateway"),
        "TAKEBACK_HTTP_PORT": str(port),
        "TAKEBACK_HTTP_BODY_MAX_BYTES": str(TEST_BODY_MAX_BYTES),
        "TAKEBACK_LOG_FORMAT": "json",
        "TAKEBACK_GATEWAY_WORKERS": "1",
        **settings,
    }
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "services.gateway.entrypoints.server"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server, log_path)
    except BaseException:
        server.kill()
        server.wait(timeout=15)
        raise
    return server, url


def _wait_healthy(url: str, server: subprocess.Popen, log_path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert server.poll() is None, f"gateway exited at start:\n{log_path.read_text()[-3000:]}"
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"gateway not healthy within {START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def gateway_url(gateway):
    return gateway.url


@pytest.fixture
async def http(gateway_url):
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30.0) as client:
        yield client


@pytest.fixture
def new_key(owner_pool):
    """`await new_key(kind, id, role=None, revoked=False)` -> the plaintext key, made as the owner role makes
    them."""

    async def make(kind: str, source_id: str, role: str | None = None, revoked: bool = False) -> str:
        repository = PostgresKeyRepository(owner_pool)
        plaintext, stored = await create_key(repository, kind, source_id, role)
        if revoked:
            await revoke_key(repository, stored.key_id)
        return plaintext

    return make


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sale(store: str, source_id: str | None = None, serial: str | None = None) -> dict:
    """A valid sale.recorded of one battery by `store` (sent as `source_id`, default the store)."""
    item = {
        "serial": serial or unique("BAT"),
        "sku": "EB-500",
        "category": "lmt",
        "chemistry": "li-ion-nmc",
        "mass_kg": 2.8,
        "deposit": 5000,
        "recycling_fee": 800,
        "contract": "deposit",
    }
    data = {"sale_id": unique("S"), "store_id": store, "currency": "EUR", "items": [item]}
    return envelope("sale.recorded", "pos", source_id or store, data)


def unknown_transfer(haulier: str, serial: str) -> dict:
    """A haulier's hand-over of a battery (by serial) to another haulier."""
    return envelope(
        "custody.transferred",
        "transporter",
        haulier,
        {
            "serial": serial,
            "from": {"kind": "transporter", "id": haulier},
            "to": {"kind": "transporter", "id": unique("haul")},
            "reason": "transport",
        },
    )


async def end_offsets(settings, topic: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **kafka_options())
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, partition["partition"]) for partition in described["partitions"]]
    assert partitions, f"topic {topic} has no partitions"
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, **kafka_options(), group_id=None)
    await consumer.start()
    try:
        return await consumer.end_offsets(partitions)
    finally:
        await _stop(consumer)


async def messages_since(settings, since: dict[TopicPartition, int]) -> list:
    """Every message written after `since` (up to the end offsets now), from every partition."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, **kafka_options(), group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(since))
        ends = await consumer.end_offsets(list(since))
        for partition, offset in since.items():
            consumer.seek(partition, offset)
        messages, deadline = [], time.monotonic() + CONSUME_TIMEOUT_S
        while await _behind(consumer, ends) and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                messages += [m for m in batch if m.offset < ends[TopicPartition(m.topic, m.partition)]]
        assert not await _behind(consumer, ends), f"could not read up to {ends} in {CONSUME_TIMEOUT_S} s"
        return messages
    finally:
        await _stop(consumer)


async def _stop(consumer: AIOKafkaConsumer) -> None:
    """Stop a group-less consumer; aiokafka 0.14 may raise CancelledError from a task that never ran."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for partition, end in ends.items():
        if await consumer.position(partition) < end:
            return True
    return False


def carrying(messages: list, event_id: str) -> list:
    return [m for m in messages if event_id.encode() in m.value]


def random_uuid() -> str:
    return str(uuid.uuid4())
