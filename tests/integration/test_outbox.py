"""The outbox relay sends every row once, in windows of transactions (revision 0007).

A row is sent once the transaction that wrote it has committed, whatever the
order in which transactions commit, and the relay's cursor survives the relay.
"""

from __future__ import annotations

import asyncio
import json

import asyncpg

from services.common import db_roles, outbox
from services.common.outbox import Relay
from tests.conftest import wait_for
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


async def _published(relay: Relay, count: int, timeout_s: float) -> None:
    async def done() -> bool:
        return relay.published >= count

    await wait_for(done, timeout_s=timeout_s)


async def test_a_relay_on_a_notification_channel_sends_a_row_when_its_transaction_notifies(
    streams_pool, outbox_schema, relay_producer, topic_reader, monkeypatch
):
    """No quick poll: the transaction that writes the row notifies at commit, and that wakes the relay."""
    monkeypatch.setattr(outbox, "IDLE_WAIT_MAX_S", 60.0)  # its own look would come only after the test
    channel = f"{outbox_schema}_written"
    relay = Relay(streams_pool, relay_producer, outbox_schema, 100, poll_s=60.0, wake_channel=channel)
    running = asyncio.create_task(relay.run_forever())
    try:
        async with topic_reader(TOPIC) as reader:
            await asyncio.sleep(1.0)  # its first look is done: it waits
            async with streams_pool.acquire() as connection, connection.transaction():
                await add(connection, outbox_schema, value=json.dumps({"id": "notified"}).encode())
                await connection.execute("SELECT pg_notify($1, '')", channel)
            await _published(relay, 1, timeout_s=10.0)
            assert await sent_ids(reader, 1) == ["notified"]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_relay_on_a_notification_channel_still_sends_a_row_nobody_notified(
    streams_pool, outbox_schema, relay_producer, topic_reader
):
    """A notification lost (with a connection) delays a row by one look, IDLE_WAIT_MAX_S at most."""
    relay = Relay(
        streams_pool, relay_producer, outbox_schema, 100, poll_s=60.0, wake_channel=f"{outbox_schema}_w"
    )
    running = asyncio.create_task(relay.run_forever())
    try:
        async with topic_reader(TOPIC) as reader:
            await asyncio.sleep(1.0)
            async with streams_pool.acquire() as connection:
                await add(connection, outbox_schema, value=json.dumps({"id": "silent"}).encode())
            await _published(relay, 1, timeout_s=outbox.IDLE_WAIT_MAX_S + 5.0)
            assert await sent_ids(reader, 1) == ["silent"]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_relay_looks_in_one_statement_on_its_locks_session_and_moves_its_cursor_in_one_more(
    settings, outbox_schema, relay_producer, topic_reader, monkeypatch
):
    """Each look is the read of a slice on the session that holds the outbox's lock (which also shows the
    session is still there); a slice sent is one more statement, the cursor's move. Nothing else runs
    on that session: no transaction around the read, no separate read of the cursor or the snapshot."""
    monkeypatch.setattr(outbox, "IDLE_WAIT_MAX_S", 0.2)
    channel = f"{outbox_schema}_looks"
    statements: list[tuple[int, str]] = []

    async def logged(connection) -> None:
        connection.add_query_logger(lambda query, c=id(connection): statements.append((c, query.query)))

    pool = await asyncpg.create_pool(
        settings.database_url_as(db_roles.STREAMS), min_size=1, max_size=4, init=logged
    )
    relay = Relay(pool, relay_producer, outbox_schema, 100, poll_s=60.0, wake_channel=channel)
    running = asyncio.create_task(relay.run_forever())
    try:
        async with topic_reader(TOPIC) as reader:
            await asyncio.sleep(1.0)  # it holds the lock and looks every 0.2 s
            lock_session = next(c for c, query in statements if "pg_try_advisory_lock" in query)
            idle_from = len(statements)
            await asyncio.sleep(1.0)
            idle = [query for c, query in statements[idle_from:] if c == lock_session]
            assert 3 <= len(idle) <= 6 and all("pg_current_snapshot()" in query for query in idle)

            sending_from = len(statements)
            for name in ("first", "second"):
                async with pool.acquire() as connection, connection.transaction():
                    await add(connection, outbox_schema, value=json.dumps({"id": name}).encode())
                    await connection.execute("SELECT pg_notify($1, '')", channel)
                await _published(relay, {"first": 1, "second": 2}[name], timeout_s=10.0)
            assert await sent_ids(reader, 2) == ["first", "second"]
            on_lock = [query for c, query in statements[sending_from:] if c == lock_session]
            moves = [query for query in on_lock if query.lstrip().startswith("UPDATE")]
            assert len(moves) == 2  # one a slice sent
            assert all("pg_current_snapshot()" in q or q.lstrip().startswith("UPDATE") for q in on_lock)
            assert not [q for q in on_lock if q.strip().upper() in ("BEGIN", "COMMIT", "SELECT 1")]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await pool.close()
