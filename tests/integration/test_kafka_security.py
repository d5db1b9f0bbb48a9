"""No one gets in: Kafka refuses anonymous clients, a source writes only its kind's topics and only as itself.

Contract 8.4. Against the real broker (SASL/SCRAM-SHA-512, ACLs) and the real stream workers.
"""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from contracts import topics
from services.common.kafka import MECHANISM, signature_headers
from tests.conftest import envelope, unique
from tests.integration.scheme import Scheme, item
from tests.integration.test_restart import TAKEBACK

CONNECT_TIMEOUT_S = 20.0


def credential(kind: str, source_id: str) -> dict:
    done = subprocess.run(
        [TAKEBACK, "kafka-credentials", "create", "--kind", kind, "--id", source_id, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def producer_as(settings, username: str, password: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=MECHANISM,
        sasl_plain_username=username,
        sasl_plain_password=password,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=10_000,
    )


async def refused_to_connect(producer: AIOKafkaProducer) -> bool:
    try:
        await asyncio.wait_for(producer.start(), CONNECT_TIMEOUT_S)
    except (TimeoutError, KafkaConnectionError):
        return True
    finally:
        await producer.stop()
    return False


def sale_of(store: str) -> dict:
    return envelope(
        "sale.recorded",
        "pos",
        store,
        {"sale_id": unique("S"), "store_id": store, "currency": "EUR", "items": [item(unique("BAT"))]},
    )


async def test_an_anonymous_client_is_refused(settings):
    assert await refused_to_connect(
        AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5_000)
    )


async def test_a_wrong_password_is_refused(settings):
    store = unique("store")
    made = credential("pos", store)
    assert await refused_to_connect(producer_as(settings, made["username"], made["password"] + "x"))


async def test_a_pos_credential_writes_sales_signed_as_its_store_and_nothing_else(settings, pool):
    store, other = unique("store"), unique("store")
    made = credential("pos", store)
    assert made["topics"] == sorted([topics.SALES, topics.CUSTODY])
    producer = producer_as(settings, made["username"], made["password"])
    await producer.start()
    scheme = Scheme(producer, pool, store=store)
    try:
        own = sale_of(store)
        raw = json.dumps(own).encode()
        await producer.send_and_wait(
            topics.SALES, raw, key=b"own", headers=signature_headers(raw, made["signing_secret"])
        )
        await scheme.applied(own)

        forged = sale_of(other)  # signed with this store's key, speaking for another store
        raw = json.dumps(forged).encode()
        sent_forged = await producer.send_and_wait(
            topics.SALES, raw, key=b"f", headers=signature_headers(raw, made["signing_secret"])
        )
        unsigned = sale_of(store)
        sent_unsigned = await producer.send_and_wait(topics.SALES, json.dumps(unsigned).encode(), key=b"u")
        for event, sent in ((forged, sent_forged), (unsigned, sent_unsigned)):
            await _rejected_by_position(pool, event, sent)

        collection = envelope(
            "collection.logged",
            "return_centre",
            "centre-evil",
            {
                "collection_id": unique("C"),
                "centre_id": "centre-evil",
                "serial": own["data"]["items"][0]["serial"],
                "condition": "functional",
            },
        )
        with pytest.raises(TopicAuthorizationFailedError):
            raw = json.dumps(collection).encode()
            await producer.send_and_wait(
                topics.COLLECTIONS, raw, key=b"c", headers=signature_headers(raw, made["signing_secret"])
            )
    finally:
        await producer.stop()
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM scheme.refunds WHERE centre_id = 'centre-evil' AND serial = $1",
            own["data"]["items"][0]["serial"],
        )
        == 0
    )


def revoke(kind: str, source_id: str) -> None:
    done = subprocess.run(
        [TAKEBACK, "kafka-credentials", "revoke", "--kind", kind, "--id", source_id],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


async def on_every_broker(settings, username: str, password: str) -> list[bool]:
    """Whether each broker takes the login now: one try each, no retry."""
    from infra.local.principals import logs_in
    from tests.conftest import kafka_options

    return [
        await logs_in(server, kafka_options(), username, password)
        for server in settings.kafka_bootstrap.split(",")
    ]


async def test_a_revoked_credential_can_no_longer_log_in(settings):
    store = unique("store")
    made = credential("pos", store)
    revoke("pos", store)
    assert await refused_to_connect(producer_as(settings, made["username"], made["password"]))


async def test_credentials_made_replaced_and_revoked_take_effect_on_every_broker_when_the_command_returns(
    settings,
):
    """The controller acknowledges a SCRAM change before the brokers apply it: each command returns only
    once every broker has, so the very next login, tried once, sees it."""
    store = unique("store")
    first = credential("pos", store)
    assert all(await on_every_broker(settings, first["username"], first["password"]))
    second = credential("pos", store)
    assert not any(await on_every_broker(settings, first["username"], first["password"]))
    assert all(await on_every_broker(settings, second["username"], second["password"]))
    revoke("pos", store)
    assert not any(await on_every_broker(settings, second["username"], second["password"]))


async def test_a_service_principal_may_not_write_what_it_does_not_own(settings):
    password = (settings.state_dir / "secrets" / "kafka-ledger").read_text().strip()
    producer = producer_as(settings, "svc-ledger", password)
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(topics.SALES, json.dumps(sale_of("store-x")).encode(), key=b"x")
    finally:
        await producer.stop()


async def _rejected_by_position(pool, event: dict, sent) -> None:
    """Refused as `source_mismatch`, and not recorded against its id (the real source may still send it)."""
    from services.common.ids import stable_id
    from tests.conftest import wait_for

    rejection_id = stable_id("rejected", sent.topic, sent.partition, sent.offset)
    value = await wait_for(
        lambda: pool.fetchval("SELECT value FROM scheme.outbox WHERE event_id = $1::uuid", rejection_id)
    )
    data = json.loads(value)["data"]
    assert (data["reason"], data["rejected_event_id"]) == ("source_mismatch", event["event_id"])
    assert (
        await pool.fetchval("SELECT count(*) FROM scheme.inbox WHERE event_id = $1::uuid", event["event_id"])
        == 0
    )


async def test_new_principals_log_in_at_once_once_their_credentials_are_set(stack, settings):
    """`takeback up` sets each service's SCRAM credential, then starts the service: the controller
    acknowledges a credential before the broker applies it, and a service that logged in at once was refused
    (`streams exited at start`). `ensure_principals` returns once every principal it set logs in on every
    broker."""
    from aiokafka.admin import AIOKafkaAdminClient

    from infra.local.kafka_admin import upsert_users
    from infra.local.principals import ensure_principals
    from tests.conftest import kafka_options

    passwords = {f"svc-test-{unique('u')}": unique("secret") for _ in range(3)}
    await ensure_principals(
        settings.kafka_bootstrap,
        kafka_options(),
        settings.streams_group,
        passwords,
        settings.database_owner_url,
        {},
    )
    try:
        for user, password in passwords.items():
            login = {**kafka_options(), "sasl_plain_username": user, "sasl_plain_password": password}
            client = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **login)
            try:
                await client.start()  # no retry: the first login is the one a service makes
            finally:
                await client.close()
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **kafka_options())
        await admin.start()
        try:
            await upsert_users(admin, {}, delete=list(passwords))
        finally:
            await admin.close()
