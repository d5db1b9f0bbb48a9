"""The local stack is the real thing: Kafka in KRaft mode and PostgreSQL, with the services on them."""

from __future__ import annotations

import asyncpg
import pytest

from infra.local import kafka
from infra.local.topics import describe_cluster, topic_names
from tests.conftest import kafka_options, unique
from tests.integration.scheme import Scheme, item


async def test_the_broker_is_kafka_in_kraft_mode_of_the_pinned_version(stack, settings):
    cluster = await describe_cluster(settings.kafka_bootstrap, kafka_options())
    cluster_id = (settings.state_dir / "kafka" / "cluster.id").read_text().strip()
    assert cluster["cluster_id"] == cluster_id
    assert cluster["controller_id"] >= 0 or cluster["controller_id"] == -1  # KRaft hides the controller
    server_log = (settings.state_dir / "logs" / "kafka.log").read_text(errors="replace")
    assert f"Kafka version: {kafka.KAFKA_VERSION}" in server_log
    assert "QuorumController" in server_log  # the KRaft controller, no ZooKeeper


async def test_postgres_is_a_real_server(pool):
    version = await pool.fetchval("SHOW server_version_num")
    assert int(version) >= 150000


async def test_the_local_cluster_analyzes_tables_within_seconds_of_their_growth(pool):
    """A statement the services prepare while a table is small keeps the plan made then until an analyze
    replaces it: on a new stack, a sequential scan of the batteries and the inbox for every batch (measured:
    15.5 million rows read in a 20,000-request run, against 1.0 million with the launcher every 5 s)."""
    assert await pool.fetchval("SELECT setting::int FROM pg_settings WHERE name = 'autovacuum_naptime'") <= 5
    assert await pool.fetchval("SHOW autovacuum") == "on"


async def test_every_topic_of_the_contract_exists(stack, settings):
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **kafka_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    assert set(topic_names()) <= existing


async def test_a_sale_produced_to_kafka_is_recorded_in_postgres_by_the_faust_agent(producer, pool):
    scheme = Scheme(producer, pool)
    serial = unique("BAT")
    sale = await scheme.sale([item(serial)])
    await scheme.applied(sale)
    row = await pool.fetchrow("SELECT * FROM scheme.sales WHERE sale_id = $1", sale["data"]["sale_id"])
    assert row["store_id"] == scheme.store


async def test_the_database_role_of_the_streams_cannot_change_the_schema(streams_pool):
    with pytest.raises(
        asyncpg.InsufficientPrivilegeError
    ):  # nor any role but the owner: test_database_roles.py
        await streams_pool.execute("DROP TABLE scheme.inbox")
