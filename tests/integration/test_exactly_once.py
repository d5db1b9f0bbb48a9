"""Exactly-once effects under at-least-once delivery: replays and crashes change nothing twice."""

from __future__ import annotations

import asyncio
import json
import random
import string
import sys
import time

from contracts import topics
from infra.local.processes import Process
from infra.local.stack import SERVICES
from tests.conftest import envelope, free_port, now_rfc3339, unique, wait_for
from tests.integration.consumers import caught_up, lag
from tests.integration.scheme import Scheme, item

REPLAY_EVENTS_PER_S_MIN = 300  # the slowest replay this test waits for, on a loaded 2-core machine

SNAPSHOT_SQL = """
SELECT (SELECT count(*) FROM scheme.inbox) AS inbox,
       (SELECT count(*) FROM scheme.outbox) AS outbox,
       (SELECT count(*) FROM scheme.custody_history) AS history,
       (SELECT count(*) FROM scheme.refunds) AS refunds,
       (SELECT count(*) FROM scheme.postings) AS postings,
       (SELECT count(*) FROM scheme.discrepancies) AS discrepancies,
       (SELECT count(*) FROM scheme.repurposings) AS repurposings,
       (SELECT count(*) FROM scheme.payments) AS payments,
       (SELECT count(*) FROM scheme.releases) AS releases,
       (SELECT count(*) FROM scheme.released_deposits) AS released_deposits,
       (SELECT count(*) FROM scheme.discrepancy_resolutions) AS resolutions,
       (SELECT md5(string_agg(concat_ws('|', event_id, route, state_of_health_pct), ',' ORDER BY event_id))
          FROM scheme.collections) AS routes,
       (SELECT md5(string_agg(concat_ws('|', serial, state, custodian_kind, custodian_id, deposit_refunded,
                                        history_length, deposit_released), ',' ORDER BY serial))
          FROM scheme.batteries) AS batteries
"""


async def snapshot(pool) -> dict:
    return dict(await pool.fetchrow(SNAPSHOT_SQL))


async def some_traffic(scheme: Scheme) -> None:
    """A little of everything, good and bad, so the replay has something of each to re-read."""
    serials = [unique("BAT") for _ in range(4)]
    await scheme.applied(await scheme.sale([item(s) for s in (serials[0], serials[1], serials[3])]))
    await scheme.applied(await scheme.collect(serials[0]))
    await scheme.rejected(await scheme.collect(serials[0]), "already_returned")
    # Contract 8.3: graded, handed to a second-life operator, repurposed, taken back free.
    operator, centre = unique("op"), {"kind": "return_centre", "id": scheme.centre}
    await scheme.applied(await scheme.collect(serials[1], state_of_health_pct=70))
    to = {"kind": "second_life", "id": operator}
    await scheme.applied(
        await scheme.transfer(serials[1], centre, to, "second_life", "return_centre", scheme.centre)
    )
    await scheme.applied(await scheme.repurpose(serials[1], operator))
    await scheme.rejected(await scheme.repurpose(serials[1], operator), "custody_mismatch")
    await scheme.applied(await scheme.collect(serials[1], state_of_health_pct=40))
    # Contract 8.1: finance overpays, releases a currency's deposits, resolves a serial sold again.
    overpaid = await scheme.payment("store", scheme.store, 10**6)
    await scheme.applied(overpaid)
    await scheme.rejected(
        await scheme.payment("store", scheme.store, 1, payment_id=overpaid["data"]["payment_id"]),
        "duplicate_payment",
    )
    money = "Q" + "".join(random.choices(string.ascii_uppercase, k=2))
    await scheme.applied(await scheme.sale([item(serials[2])], currency=money))
    release = {"release_id": unique("R"), "currency": money, "sold_before": now_rfc3339()}
    await scheme.applied(await scheme.emit(envelope("deposits.released", "finance", "finance-1", release)))
    assert (await scheme.battery(serials[2]))["deposit_released"]
    await scheme.applied(await scheme.sale([item(serials[3])]))  # already in the market: held
    held = await wait_for(
        lambda: scheme.pool.fetchval(
            "SELECT discrepancy_id FROM scheme.discrepancies"
            " WHERE subject = $1 AND kind = 'serial_already_in_market'",
            serials[3],
        )
    )
    resolution = {"discrepancy_id": str(held), "resolution": "returned_to_store"}
    await scheme.applied(
        await scheme.emit(envelope("discrepancy.resolved", "finance", "finance-1", resolution))
    )
    await scheme.emit(envelope("sale.recorded", "pos", scheme.store, {"sale_id": "x"}), key="x")
    await scheme.producer.send_and_wait(topics.SALES, b"{broken", key=b"x")


async def test_replaying_every_input_topic_from_offset_zero_changes_nothing(stack, settings, producer, pool):
    await some_traffic(Scheme(producer, pool))
    await caught_up(settings.kafka_bootstrap, settings.streams_group)
    await asyncio.sleep(1.5)  # the relay's last publication
    before = await snapshot(pool)
    group = unique("replay")
    replay = Process(group, stack.run_dir, stack.log_dir)
    replay.start(
        [sys.executable, "-m", "streams.worker"],
        env={
            **stack.database_env("streams"),
            "TAKEBACK_STREAMS_GROUP": group,
            "TAKEBACK_STREAMS_METRICS_PORT": str(free_port()),
        },
    )
    try:
        everything = await lag(settings.kafka_bootstrap, group)  # a new group has read nothing yet
        deadline = time.monotonic() + max(120.0, everything / REPLAY_EVENTS_PER_S_MIN)
        while await lag(settings.kafka_bootstrap, group) > 0:
            assert replay.pid() is not None, f"the replaying worker died; see {replay.log_file}"
            assert time.monotonic() < deadline, "the replay did not catch up in time"
            await asyncio.sleep(0.5)
    finally:
        replay.stop()
    assert await snapshot(pool) == before


async def test_a_worker_killed_mid_batch_ends_as_if_never_killed(stack, settings, producer, pool):
    scheme = Scheme(producer, pool)
    streams = stack.process(SERVICES[0])
    sales = [[unique("BAT") for _ in range(5)] for _ in range(300)]
    serials = [s for sale in sales for s in sale]
    sku = unique("SKU")  # of its own: no terms, so no handling fee postings among the counted ones

    async def applied_count() -> int:
        return await pool.fetchval("SELECT count(*) FROM scheme.batteries WHERE serial = ANY($1)", serials)

    async def kill_mid_way(produce) -> None:
        await produce()
        await wait_for(applied_count, interval_s=0.01)
        streams.kill()
        stack._service_up(SERVICES[0])

    async def sell():
        await asyncio.gather(
            *[
                scheme.producer.send(
                    topics.SALES,
                    json.dumps(
                        envelope(
                            "sale.recorded",
                            "pos",
                            scheme.store,
                            {
                                "sale_id": unique("S"),
                                "store_id": scheme.store,
                                "currency": "EUR",
                                "items": [item(s, sku=sku) for s in sale],
                            },
                        )
                    ).encode(),
                    key=b"s",
                )
                for sale in sales
            ]
        )
        await scheme.producer.flush()

    await kill_mid_way(sell)
    await wait_for(
        lambda: _all(
            pool, "SELECT count(*) = $2 FROM scheme.batteries WHERE serial = ANY($1)", serials, len(serials)
        )
    )

    async def collect():
        for serial in serials:
            await scheme.producer.send(
                topics.COLLECTIONS,
                json.dumps(
                    envelope(
                        "collection.logged",
                        "return_centre",
                        scheme.centre,
                        {
                            "collection_id": unique("C"),
                            "centre_id": scheme.centre,
                            "serial": serial,
                            "condition": "functional",
                        },
                    )
                ).encode(),
                key=serial.encode(),
            )
        await scheme.producer.flush()

    async def refunded() -> int:
        return await pool.fetchval("SELECT count(*) FROM scheme.refunds WHERE serial = ANY($1)", serials)

    await kill_mid_way(collect)
    await wait_for(
        lambda: _all(
            pool,
            "SELECT count(*) = $2 FROM scheme.batteries WHERE serial = ANY($1) AND state = 'collected'",
            serials,
            len(serials),
        )
    )
    assert await refunded() == len(serials)
    assert await pool.fetchval(
        "SELECT count(*) FROM scheme.custody_history WHERE serial = ANY($1)", serials
    ) == 2 * len(serials)
    assert await pool.fetchval(
        "SELECT count(*) FROM scheme.postings WHERE subject = ANY($1)", serials
    ) == 2 * len(serials)
    assert await pool.fetchval(
        "SELECT sum(amount) FROM scheme.refunds WHERE serial = ANY($1)", serials
    ) == 5000 * len(serials)
    assert await pool.fetchval(
        "SELECT count(*) FROM scheme.outbox WHERE topic = $1 AND key = ANY($2)", topics.REFUNDS, serials
    ) == len(serials)


async def _all(pool, sql: str, *args) -> bool:
    return await pool.fetchval(sql, *args)
