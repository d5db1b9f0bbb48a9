"""A database outage stalls the pipeline; it loses nothing and applies nothing twice."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest

from contracts import topics
from infra.local.probes import postgres_answers
from tests.conftest import envelope, unique, wait_for
from tests.integration.scheme import item

OUTAGE_S = 4.0
SALES = 30


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
