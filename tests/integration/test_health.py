"""Health tells the truth: `takeback status`, `/healthz` and `/metrics` show relays, parked events out,
consumer lag and the last reconciliation, and status fails when one of them is wrong."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import httpx
import pytest

from contracts import topics
from services.common import db_roles, kafka_offsets
from services.common.health_report import HealthMonitor
from services.common.kafka import client_options
from services.common.kafka_offsets import KafkaOffsets, OffsetsReader
from tests.conftest import wait_for
from tests.integration.test_restart import takeback


def flow(rows: list[dict]) -> dict[str, dict]:
    return {row["part"]: row for row in rows if row["kind"] == "flow"}


async def test_status_shows_each_relay_each_consumer_group_and_the_last_reconciliation(stack):
    status = takeback("status", "--json")
    rows = json.loads(status.stdout)
    parts = flow(rows)
    assert {
        "relay scheme",
        "relay ledger",
        "consumer takeback-streams",
        "consumer takeback-ledger",
        "reconciliation",
    } <= set(parts)
    assert {"unsent", "oldest_unsent_age_s", "parked"} <= set(parts["relay scheme"])
    assert status.returncode == (0 if all(row["healthy"] for row in rows) else 1)


async def test_a_parked_event_out_makes_status_fail_and_shows_in_healthz_and_metrics(
    stack, settings, superuser_url
):
    admin = await asyncpg.connect(superuser_url)
    seq = -int(uuid.uuid4().int % 1_000_000_000) - 1  # no real row has a negative seq
    try:
        await admin.execute(
            "INSERT INTO scheme.outbox_parked (seq, event_id, topic, key, value_bytes, reason) "
            "VALUES ($1, $2, 'takeback.refunds', 'k', 1, 'test: refused')",
            seq,
            uuid.uuid4(),
        )
        status = takeback("status", "--json")
        relay = flow(json.loads(status.stdout))["relay scheme"]
        assert (status.returncode, relay["healthy"], relay["parked"] >= 1) == (1, False, True)

        async def reported() -> bool:
            async with httpx.AsyncClient() as client:
                body = (await client.get(f"http://127.0.0.1:{settings.streams_metrics_port}/healthz")).json()
                metrics = (await client.get(f"http://127.0.0.1:{settings.streams_metrics_port}/metrics")).text
            relays = {r["schema"]: r for r in body.get("scheme", {}).get("relays", [])}
            return (
                relays.get("scheme", {}).get("parked", 0) >= 1
                and 'takeback_outbox_parked_rows{schema="scheme"} 0.0' not in metrics
            )

        await wait_for(reported, timeout_s=30)
    finally:
        await admin.execute("DELETE FROM scheme.outbox_parked WHERE seq = $1", seq)
        await admin.close()


async def test_a_last_reconciliation_that_is_not_balanced_makes_status_fail(stack, superuser_url):
    admin = await asyncpg.connect(superuser_url)
    run_id = uuid.uuid4()
    try:
        await admin.execute(
            "INSERT INTO ledger.reconciliation_runs (run_id, as_of, status, result) VALUES ($1, now() + "
            "interval '1 hour', 'discrepancies', $2::jsonb)",
            run_id,
            json.dumps({"checks": [{"name": "deposit_liability", "ok": False}]}),
        )
        status = takeback("status", "--json")
        last = flow(json.loads(status.stdout))["reconciliation"]
        assert (status.returncode, last["healthy"], last["last"]["failed_checks"]) == (
            1,
            False,
            ["deposit_liability"],
        )
    finally:
        await admin.execute("DELETE FROM ledger.reconciliation_runs WHERE run_id = $1", run_id)
        await admin.close()


@pytest.mark.parametrize("role", [db_roles.STREAMS, db_roles.LEDGER, db_roles.GATEWAY, db_roles.READER])
async def test_every_session_of_each_services_role_is_bounded(stack, settings, role):
    """Set on the role (any client) and on the services' pools: a forgotten transaction ends on its own."""
    from services.common.db import create_pool

    connection = await asyncpg.connect(settings.database_url_as(role))
    try:
        role_limits = [
            await connection.fetchval(f"SHOW {name}")
            for name in ("idle_in_transaction_session_timeout", "statement_timeout")
        ]
    finally:
        await connection.close()
    pool = await create_pool(settings.database_url_as(role), max_size=1, settings=settings)
    try:
        service = [
            await pool.fetchval("SELECT extract(epoch FROM current_setting($1)::interval)", name)
            for name in ("idle_in_transaction_session_timeout", "statement_timeout")
        ]
    finally:
        await pool.close()
    assert "0" not in role_limits
    assert service == [settings.idle_in_transaction_timeout_s, settings.statement_timeout_s]


async def test_the_health_reports_kafka_clients_last_across_readings_and_read_what_fresh_clients_read(
    stack, settings
):
    """One login per process, not one per reading: the same clients serve every reading, with the same
    figures as clients made for one reading."""

    reader = OffsetsReader(settings.kafka_bootstrap, client_options(settings))
    try:
        first = await reader.partitions(settings.streams_group, topics.INPUT_TOPICS)
        clients = reader._clients
        again = await reader.partitions(settings.streams_group, topics.INPUT_TOPICS)
        assert reader._clients is clients
        fresh = await KafkaOffsets(
            settings.kafka_bootstrap, settings.streams_group, topics.INPUT_TOPICS, client_options(settings)
        ).partitions()
        assert len(first) == len(fresh) >= len(topics.INPUT_TOPICS)
        assert [(p.topic, p.partition, p.log_start) for p in again] == [
            (p.topic, p.partition, p.log_start) for p in fresh
        ]
        for kept, made in zip(again, fresh, strict=True):  # read a moment later: the stack may move on
            assert made.end >= kept.end >= 0
            assert (made.committed or 0) >= (kept.committed or 0)
    finally:
        await reader.close()
    assert (reader.connected, clients[1]._closed) == (False, True)


async def test_a_failed_reading_closes_the_health_reports_kafka_clients_and_the_next_connects_again(
    stack, settings, monkeypatch
):

    reader = OffsetsReader(settings.kafka_bootstrap, client_options(settings))
    try:
        await reader.partitions(settings.streams_group, topics.INPUT_TOPICS)
        clients = reader._clients
        monkeypatch.setattr(kafka_offsets, "READ_TIMEOUT_S", 0.0)  # the broker too slow to answer in time
        with pytest.raises(TimeoutError):
            await reader.partitions(settings.streams_group, topics.INPUT_TOPICS)
        assert (reader.connected, clients[1]._closed) == (False, True)
        monkeypatch.undo()
        assert await reader.partitions(settings.streams_group, topics.INPUT_TOPICS)
        assert reader.connected and reader._clients is not clients
    finally:
        await reader.close()


async def test_a_stopped_health_monitor_closes_its_kafka_clients(stack, settings, streams_pool):
    monitor = HealthMonitor(streams_pool, settings)
    running = asyncio.create_task(monitor.run_forever())

    async def reported() -> bool:
        return monitor.report is not None

    await wait_for(reported, timeout_s=30)
    assert monitor.report["consumer_lag"][settings.streams_group] is not None
    clients = monitor.kafka._clients
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert (monitor.kafka.connected, clients[1]._closed) == (False, True)
