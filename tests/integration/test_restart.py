"""`takeback up` twice, `status`, `down`, `up` again: all work, and the data survives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts import topics
from tests.conftest import kafka_options, unique
from tests.integration.scheme import Scheme, item

TAKEBACK = str(Path(sys.executable).parent / "takeback")


def takeback(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TAKEBACK, *args], capture_output=True, text=True, timeout=300, env=os.environ)


async def read_at(bootstrap: str, topic: str, partition: int, offset: int) -> dict:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **kafka_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        record = await consumer.getone()
        return json.loads(record.value)
    finally:
        await consumer.stop()


@pytest.mark.restarts_stack
async def test_up_twice_status_down_up_keeps_postgres_and_kafka_data(stack, settings, producer, pool):
    assert takeback("up").returncode == 0, "a second `up` is harmless"
    status = takeback("status", "--json")
    parts = json.loads(status.stdout)
    assert all(part["healthy"] for part in parts if part["kind"] == "process")
    assert status.returncode == (0 if all(part["healthy"] for part in parts) else 1)

    scheme = Scheme(producer, pool)
    serial = unique("BAT")
    sale = await scheme.sale([item(serial)])
    await scheme.applied(sale)
    where = await pool.fetchrow(
        'SELECT partition, "offset" FROM scheme.inbox WHERE event_id = $1::uuid', sale["event_id"]
    )

    down = takeback("down")
    assert down.returncode == 0, down.stderr
    after_down = takeback("status", "--json")
    assert after_down.returncode == 1
    assert not any(part["healthy"] for part in json.loads(after_down.stdout))

    up = takeback("up")
    assert up.returncode == 0, up.stderr
    connection = await asyncpg.connect(settings.database_url)
    try:
        state = await connection.fetchval("SELECT state FROM scheme.batteries WHERE serial = $1", serial)
    finally:
        await connection.close()
    assert state == "in_use"
    again = await read_at(settings.kafka_bootstrap, topics.SALES, where["partition"], where["offset"])
    assert again["event_id"] == sale["event_id"]
