"""Nothing on the way out can stall: a refused event out is parked, the rest goes on; sent rows are pruned."""

from __future__ import annotations

import json

import pytest

from contracts.limits import OUTPUT_MESSAGE_BYTES_MAX
from services.common.kafka import client_options
from services.common.outbox import Relay
from tests.integration.outbox_support import TOPIC, add


def value(name: str, size: int = 0) -> bytes:
    return json.dumps({"id": name, "pad": "x" * size}).encode()


async def test_an_event_out_too_large_to_send_is_parked_and_the_rest_of_the_window_goes_on(
    streams_pool, outbox_schema, relay_producer, topic_reader
):
    relay = Relay(streams_pool, relay_producer, outbox_schema, batch_max=100, poll_s=0.05)
    async with topic_reader(TOPIC) as reader, streams_pool.acquire() as connection:
        await add(connection, outbox_schema, value("before"))
        huge = await add(connection, outbox_schema, value("huge", 2 * OUTPUT_MESSAGE_BYTES_MAX))
        await add(connection, outbox_schema, value("after"))

        assert await relay.publish_once() == 3
        assert await relay.publish_once() == 0  # nothing is retried: the window is done
        assert await relay.backlog() == 0
        parked = await streams_pool.fetch(
            f"SELECT event_id::text, reason, value_bytes FROM {outbox_schema}.outbox_parked"
        )
        assert [(row["event_id"], "TooLarge" in row["reason"]) for row in parked] == [(huge, True)]
        assert parked[0]["value_bytes"] > 2 * OUTPUT_MESSAGE_BYTES_MAX
        assert relay.parked == 1
        seen: list[str] = []
        await reader.find(
            lambda v: isinstance(v, dict) and seen.append(v.get("id")) is None and len(seen) >= 2
        )
        assert seen == ["before", "after"]


async def test_a_retry_after_a_failure_sends_only_what_kafka_did_not_acknowledge(
    streams_pool, outbox_schema, relay_producer, topic_reader
):
    relay = Relay(streams_pool, relay_producer, outbox_schema, batch_max=100, poll_s=0.05)
    async with topic_reader(TOPIC) as reader, streams_pool.acquire() as connection:
        for name in ("a", "b", "c"):
            await add(connection, outbox_schema, value(name))
        rows = await streams_pool.fetch(f"SELECT seq FROM {outbox_schema}.outbox ORDER BY seq")
        relay._unrecorded.add(rows[0]["seq"])  # Kafka acknowledged "a" before the cursor could move
        assert await relay.publish_once() == 3
        await add(connection, outbox_schema, value("d"))
        assert await relay.publish_once() == 1  # the acknowledged row is not remembered beyond its window
        seen: list[str] = []
        await reader.find(
            lambda v: isinstance(v, dict) and seen.append(v.get("id")) is None and len(seen) >= 3
        )
        assert seen == ["b", "c", "d"]


async def test_sent_rows_older_than_the_retention_are_pruned_and_parked_ones_kept(
    streams_pool, outbox_schema, relay_producer, superuser_url
):
    relay = Relay(streams_pool, relay_producer, outbox_schema, batch_max=100, poll_s=0.05, retention_s=3600)
    async with streams_pool.acquire() as connection:
        await add(connection, outbox_schema, value("old"))
        await add(connection, outbox_schema, value("huge", 2 * OUTPUT_MESSAGE_BYTES_MAX))
        await relay.publish_once()
        await add(connection, outbox_schema, value("unsent"))
    import asyncpg

    admin = await asyncpg.connect(superuser_url)
    try:
        await admin.execute(f"UPDATE {outbox_schema}.outbox SET created_at = now() - interval '2 hours'")
    finally:
        await admin.close()
    await relay._prune_when_due()
    left = await streams_pool.fetch(
        f"SELECT convert_from(value, 'UTF8')::jsonb->>'id' AS id FROM {outbox_schema}.outbox ORDER BY seq"
    )
    assert [row["id"] for row in left] == ["huge", "unsent"]  # the parked row and the unsent one stay
    with pytest.raises(Exception, match="at least one hour"):
        await streams_pool.fetchval(f"SELECT {outbox_schema}.prune_outbox(interval '1 minute')")
    with pytest.raises(Exception, match="permission denied"):
        await streams_pool.execute(f"DELETE FROM {outbox_schema}.outbox")


async def test_a_relay_taking_over_from_one_that_died_does_not_send_again_what_kafka_took(
    streams_pool, outbox_schema, relay_producer, topic_reader, settings
):
    from services.common.outbox import Row
    from services.common.outbox_tail import OutboxTail

    async with topic_reader(TOPIC) as reader, streams_pool.acquire() as connection:
        for name in ("a", "b", "c"):
            await add(connection, outbox_schema, value(name))
        rows = [
            Row(*r)
            for r in await streams_pool.fetch(
                f"SELECT seq, event_id, topic, key, value FROM {outbox_schema}.outbox ORDER BY seq"
            )
        ]
        dead = Relay(streams_pool, relay_producer, outbox_schema, batch_max=100, poll_s=0.05)
        assert (
            await dead._send(rows[:2]) == {}
        )  # Kafka took "a" and "b"; the relay died before its cursor moved

        heir = Relay(
            streams_pool,
            relay_producer,
            outbox_schema,
            batch_max=100,
            poll_s=0.05,
            tail=OutboxTail(settings.kafka_bootstrap, client_options(settings)),
        )
        await heir._take_over()
        assert await heir.publish_once() == 3
        assert await heir.backlog() == 0
        await add(connection, outbox_schema, value("end"))
        assert await heir.publish_once() == 1
        seen: list[str] = []
        await reader.find(
            lambda v: isinstance(v, dict) and seen.append(v.get("id")) is None and "end" in seen
        )
        assert seen == ["a", "b", "c", "end"]
