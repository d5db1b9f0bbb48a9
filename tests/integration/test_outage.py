"""A database outage stalls the pipeline; it loses nothing and applies nothing twice."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest

from contracts import topics
from infra.local.probes import postgres_answers
from services.common import retry
from tests.conftest import envelope, unique, wait_for
from tests.integration.scheme import item

OUTAGE_S = 4.0
SALES = 30
ENDED_CONNECTIONS = 60


@pytest.mark.restarts_stack
async def test_events_sent_while_postgres_is_down_are_applied_once_when_it_returns(stack, settings, producer):
    cluster = stack.local_cluster()
    store = unique("store")
    sales = [
        envelope(
            "sale.recorded",
            "pos",
            store,
            {"sale_id": unique("S"), "store_id": store, "currency": "EUR", "items": [item(unique("BAT"))]},
        )
        for _ in range(SALES)
    ]
    cluster.stop()
    try:
        for sale in sales:
            await producer.send_and_wait(
                topics.SALES, json.dumps(sale).encode(), key=sale["data"]["sale_id"].encode()
            )
        await asyncio.sleep(OUTAGE_S)  # the workers try, fail and wait; nothing may be acknowledged
    finally:
        cluster.start()
    await wait_for(lambda: postgres_answers(settings.database_url), timeout_s=60)
    ids = [uuid.UUID(s["event_id"]) for s in sales]
    serials = [s["data"]["items"][0]["serial"] for s in sales]
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:

        async def all_applied() -> bool:
            try:
                rows = await pool.fetch(
                    "SELECT outcome FROM scheme.inbox WHERE event_id = ANY($1::uuid[])", ids
                )
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return False  # still starting
            return len(rows) == SALES and {r["outcome"] for r in rows} == {"applied"}

        await wait_for(all_applied, timeout_s=120)
        keys = [f"sale:{s['data']['sale_id']}:{serial}" for s, serial in zip(sales, serials)]
        await wait_for(
            lambda: pool.fetchval(
                "SELECT count(*) = $2 FROM ledger.entries WHERE posting_key = ANY($1)", keys, SALES
            ),
            timeout_s=120,
        )
        assert (
            await pool.fetchval("SELECT count(*) FROM scheme.custody_history WHERE serial = ANY($1)", serials)
            == SALES
        )
    finally:
        await pool.close()


async def test_a_pooled_connection_the_server_ended_is_tried_again_not_fatal(settings):
    """A shutdown ends every session with a last message; a pool may hand out a connection that has read it
    and not yet its close. The workers' one retry loop takes what that raises as the database being away (it
    once ended both ledger workers in a restart of PostgreSQL) and gets the work done on a live connection."""
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=1)
    killer = await asyncpg.connect(settings.database_url)
    quick = retry.Policy(attempts_max=5, pause_first_s=0.001, pause_max_s=0.01)
    retried: list[str] = []

    async def in_a_transaction() -> int:
        async with pool.acquire() as connection, connection.transaction():
            return await connection.fetchval("SELECT 1")

    try:
        for attempt in range(ENDED_CONNECTIONS):
            pid = await pool.fetchval("SELECT pg_backend_pid()")  # the pool's one connection, idle again
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
            for _ in range(attempt % 4):  # the pool's next use meets the ended session at various points
                await asyncio.sleep(0)
            done = await retry.until_done(
                in_a_transaction, quick, on_retry=lambda n, error, s: retried.append(type(error).__name__)
            )
            assert done == 1
    finally:
        await killer.close()
        await pool.close()
    assert retried, "no use of an ended session was seen: the test did not reach what it is for"
