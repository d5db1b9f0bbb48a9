"""Accounting by offsets: every offset of every input partition ends with an outcome, and a lost one is named.

The inbox never sees a message that could not be read; `scheme.input_offsets`
records every offset a batch gave an outcome to, in the batch's transaction,
and reconciliation checks it against the topics' offsets in Kafka.
"""

from __future__ import annotations

import json

import asyncpg

from contracts import topics
from services.ledger.service_layer import reconcile
from tests.conftest import envelope, unique
from tests.integration.consumers import caught_up
from tests.integration.scheme import Scheme, item


def offsets_check(result: dict) -> dict:
    return next(c for c in result["checks"] if c["name"] == "offsets_accounted")


async def covered(pool, topic: str, partition: int, offset: int) -> bool:
    return await pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM scheme.input_offsets WHERE topic = $1 AND partition = $2 "
        "AND $3 BETWEEN first_offset AND last_offset)",
        topic,
        partition,
        offset,
    )


async def test_every_message_read_has_its_offset_accounted_readable_or_not(producer, pool, settings):
    scheme = Scheme(producer, pool)
    sale = await scheme.sale([item(unique("BAT"))])
    await scheme.applied(sale)
    sent = [
        await producer.send_and_wait(topics.SALES, b"{not json", key=b"x"),
        await producer.send_and_wait(topics.SALES, json.dumps(sale).encode(), key=b"again"),
    ]  # a duplicate
    await caught_up(settings.kafka_bootstrap, settings.streams_group)
    for record in sent:
        assert await covered(pool, record.topic, record.partition, record.offset)
    check = offsets_check(await reconcile(pool))
    assert check["ok"], check
    assert check["details"]["offsets_read"] > 0


async def test_a_message_that_never_got_an_outcome_is_found_and_named(
    producer, pool, settings, superuser_url
):
    scheme = Scheme(producer, pool)
    sale = envelope(
        "sale.recorded",
        "pos",
        scheme.store,
        {"sale_id": unique("S"), "store_id": scheme.store, "currency": "EUR", "items": [item(unique("BAT"))]},
    )
    record = await producer.send_and_wait(topics.SALES, json.dumps(sale).encode(), key=b"lost")
    await scheme.applied(sale)
    await caught_up(settings.kafka_bootstrap, settings.streams_group)
    position = (record.topic, record.partition, record.offset)
    tamper = await asyncpg.connect(superuser_url)
    try:
        removed = await _forget(tamper, sale["event_id"], position)
        try:
            check = offsets_check(await reconcile(pool))
        finally:
            await _restore(tamper, removed)
    finally:
        await tamper.close()
    assert not check["ok"]
    assert {"topic": record.topic, "partition": record.partition, "offset": record.offset} in check[
        "details"
    ]["lost"]["items"]
    assert offsets_check(await reconcile(pool))["ok"]


async def _forget(tamper: asyncpg.Connection, event_id: str, position: tuple[str, int, int]) -> dict:
    """As if the message had never been applied: its inbox row and its offset's outcome removed."""
    topic, partition, offset = position
    async with tamper.transaction():
        inbox = await tamper.fetchrow("DELETE FROM scheme.inbox WHERE event_id = $1 RETURNING *", event_id)
        ranges = await tamper.fetch(
            "DELETE FROM scheme.input_offsets WHERE topic = $1 AND partition = $2 "
            "AND $3 BETWEEN first_offset AND last_offset RETURNING *",
            topic,
            partition,
            offset,
        )
        for r in ranges:
            for first, last in ((r["first_offset"], offset - 1), (offset + 1, r["last_offset"])):
                if first <= last:
                    await tamper.execute(
                        "INSERT INTO scheme.input_offsets (topic, partition, first_offset, "
                        "last_offset) VALUES ($1, $2, $3, $4)",
                        topic,
                        partition,
                        first,
                        last,
                    )
    return {"inbox": inbox, "ranges": ranges, "position": position}


async def _restore(tamper: asyncpg.Connection, removed: dict) -> None:
    topic, partition, offset = removed["position"]
    inbox = removed["inbox"]
    columns = ", ".join('"' + name + '"' for name in inbox.keys())
    values = ", ".join(f"${i}" for i in range(1, len(inbox) + 1))
    async with tamper.transaction():
        await tamper.execute(f"INSERT INTO scheme.inbox ({columns}) VALUES ({values})", *inbox.values())
        await tamper.execute(
            "INSERT INTO scheme.input_offsets (topic, partition, first_offset, last_offset) "
            "VALUES ($1, $2, $3, $3)",
            topic,
            partition,
            offset,
        )


async def test_compaction_merges_the_runs_and_keeps_every_outcome_and_every_gap(streams_pool, superuser_url):
    """The table grows with gaps, not batches: runs merged, coverage unchanged (revision 0012)."""
    from streams.adapters.repository import compact_offsets

    topic = unique("takeback.test.offsets")
    tamper = await asyncpg.connect(superuser_url)  # rows of a topic of its own, as batches would record them
    try:
        await tamper.executemany(
            "INSERT INTO scheme.input_offsets (topic, partition, first_offset, last_offset) "
            "VALUES ($1, $2, $3, $4)",
            [(topic, 0, 0, 4), (topic, 0, 5, 9), (topic, 0, 8, 12), (topic, 0, 20, 25), (topic, 1, 0, 0)],
        )
        await compact_offsets(streams_pool)  # as the stream workers call it
        rows = await tamper.fetch(
            "SELECT partition, first_offset, last_offset FROM scheme.input_offsets "
            "WHERE topic = $1 ORDER BY 1, 2",
            topic,
        )
        assert [tuple(row) for row in rows] == [(0, 0, 12), (0, 20, 25), (1, 0, 0)]
    finally:
        await tamper.execute("DELETE FROM scheme.input_offsets WHERE topic = $1", topic)
        await tamper.close()
