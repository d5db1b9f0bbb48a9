"""Watching consumer groups: has a group read everything that is on its topics?"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from contracts import topics
from tests.conftest import kafka_options

CATCH_UP_TIMEOUT_S = 120.0


async def lag(bootstrap: str, group: str, names=topics.INPUT_TOPICS) -> int:
    """Messages on `names` that `group` has not committed yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_options())
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **kafka_options())
    await admin.start()
    await consumer.start()
    try:
        described = await admin.describe_topics(list(names))
        from aiokafka import TopicPartition

        partitions = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group)
        return sum(end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items())
    finally:
        await consumer.stop()
        await admin.close()


async def caught_up(bootstrap: str, group: str, timeout_s: float = CATCH_UP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    behind = None
    while time.monotonic() < deadline:
        behind = await lag(bootstrap, group)
        if behind == 0:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"group {group} still {behind} messages behind after {timeout_s} s")
