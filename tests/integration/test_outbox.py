"""The outbox relay sends every row once, in windows of transactions (revision 0007).

A row is sent once the transaction that wrote it has committed, whatever the
order in which transactions commit, and the relay's cursor survives the relay.
"""

from __future__ import annotations

import json

from services.common.outbox import Relay
from tests.integration.outbox_support import TOPIC, add


async def sent_ids(reader, count: int) -> list[str]:
    """The ids of the next `count` messages of this test on the topic, in the order they were sent."""
    seen: list[str] = []
    await reader.find(
        lambda v: isinstance(v, dict) and "id" in v and seen.append(v["id"]) is None and len(seen) >= count
    )
    return seen


async def test_a_row_written_before_a_later_commit_is_sent_once_its_transaction_commits(
    streams_pool, outbox_schema, relay_producer, topic_reader
):
    relay = Relay(streams_pool, relay_producer, outbox_schema, batch_max=100, poll_s=0.05)
    async with topic_reader(TOPIC) as reader, streams_pool.acquire() as slow:
        transaction = slow.transaction()
        await transaction.start()
        await add(slow, outbox_schema, value=json.dumps({"id": "early"}).encode())
        async with streams_pool.acquire() as fast:
            await add(fast, outbox_schema, value=json.dumps({"id": "late"}).encode())

        assert await relay.publish_once() == 1  # only what has committed
        assert await relay.publish_once() == 0
        await transaction.commit()
        assert await relay.backlog() == 1
        assert await relay.publish_once() == 1  # the earlier transaction's row is not skipped
        assert await relay.backlog() == 0
        assert await sent_ids(reader, 2) == ["late", "early"]


async def test_a_window_bigger_than_a_batch_is_sent_in_order_across_relays_without_repeats(
    streams_pool, outbox_schema, relay_producer, topic_reader
):
    names = [f"row-{i}" for i in range(7)]
    async with topic_reader(TOPIC) as reader:
        async with streams_pool.acquire() as connection, connection.transaction():
            for name in names:
                await add(connection, outbox_schema, value=json.dumps({"id": name}).encode())
        first = Relay(streams_pool, relay_producer, outbox_schema, batch_max=3, poll_s=0.05)
        assert await first.publish_once() == 3
        assert await first.backlog() == 4
        second = Relay(
            streams_pool, relay_producer, outbox_schema, batch_max=3, poll_s=0.05
        )  # after a restart
        assert [await second.publish_once() for _ in range(3)] == [3, 1, 0]
        assert await second.backlog() == 0
        assert await sent_ids(reader, 7) == names
