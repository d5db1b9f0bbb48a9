"""A broker of a 3-node cluster killed under load: nothing lost, nothing doubled, a bounded stall.

Runs its own stack (`takeback up --brokers 3`) in its own namespace: state in
`.state/cluster-test`, Kafka on 29092/29094/29096 (controllers 29093/29095/29097),
PostgreSQL on 55434 (database `takeback_cluster`), HTTP 28080, workers 28091/28092
(and +100 for the second replicas). It is wiped at the start and stopped at the end.

While sales and collections go in over Kafka (`acks=all`), the broker that coordinates
the stream workers' consumer group is SIGKILLed, sending goes on against the two left
(min.insync.replicas 2 still takes writes), and the broker is started again. Then every
event sent has exactly one outcome, no refund or ledger entry is doubled, reconciliation
is `balanced`, and the longest time without any new outcome while events were pending
(the stall) is under 30 s.

    .venv/bin/python -m pytest -m cluster tests/cluster -s
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, ProducerClosed

from contracts import topics
from infra.local.stack import Stack
from infra.local.topics import topic_names
from services.common.db import create_pool
from services.common.settings import PROJECT_ROOT, Settings, get_settings
from services.ledger.service_layer.reconciliation import reconcile
from tests.conftest import envelope, unique
from tests.integration.scheme import EUR, item

pytestmark = pytest.mark.cluster

STATE_DIR = PROJECT_ROOT / ".state" / "cluster-test"
NAMESPACE = {
    "TAKEBACK_STATE_DIR": str(STATE_DIR),
    "TAKEBACK_KAFKA_BOOTSTRAP": "127.0.0.1:29092",
    "TAKEBACK_KAFKA_CONTROLLER_PORT": "29093",
    "TAKEBACK_KAFKA_BROKERS": "3",
    # No passwords: `takeback up` generates them in the state folder's secrets, where settings find them.
    "TAKEBACK_DATABASE_URL": "postgresql://takeback_reader@127.0.0.1:55434/takeback_cluster",
    "TAKEBACK_DATABASE_OWNER_URL": "postgresql://takeback_owner@127.0.0.1:55434/takeback_cluster",
    "TAKEBACK_HTTP_PORT": "28080",
    "TAKEBACK_STREAMS_METRICS_PORT": "28091",
    "TAKEBACK_LEDGER_METRICS_PORT": "28092",
}
SALES_PER_S = 60  # each sale is followed by its collection once applied: about 120 events/s in all
KILL_AT_S = 10.0  # after the start of sending
DOWN_FOR_S = 15.0  # the broker stays dead this long while sending goes on
SEND_FOR_S = 45.0
SETTLE_TIMEOUT_S = 180.0
STALL_MAX_S = 30.0


def namespace_settings() -> Settings:
    return Settings(**{key.removeprefix("TAKEBACK_").lower(): value for key, value in NAMESPACE.items()})


@pytest.fixture(scope="module")
def cluster():
    """The 3-broker stack of this test, from a clean state; stopped afterwards (its state is kept to read).

    This process's own settings are the namespace's too, for code that reads them (reconciliation
    reads the streams' committed offsets from Kafka).
    """
    saved = {key: os.environ.get(key) for key in NAMESPACE}
    os.environ.update(NAMESPACE)
    get_settings.cache_clear()
    settings = namespace_settings()
    stack = Stack(settings, say=lambda _: None)
    try:
        stack.down()  # left over from an interrupted run
        shutil.rmtree(STATE_DIR, ignore_errors=True)
        started = time.monotonic()
        up = subprocess.run(
            [str(Path(sys.executable).with_name("takeback")), "up", "--brokers", "3"],
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert up.returncode == 0, up.stderr
        print(f"\ncluster stack up in {time.monotonic() - started:.0f} s")
        settings = namespace_settings()  # now with the roles' generated passwords
        stack = Stack(settings, say=lambda _: None)  # now it knows the data is formatted for 3
        yield stack
    finally:
        stack.down()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@dataclass
class Run:
    """What was sent and what came out, on one clock (seconds since the start of sending)."""

    t0: float = field(default_factory=time.monotonic)
    submitted: dict[uuid.UUID, float] = field(default_factory=dict)  # event id -> handed to the producer at
    sent: dict[uuid.UUID, float] = field(default_factory=dict)  # event id -> acknowledged by Kafka at
    latency: float = 0.0  # the longest from handing an event to the producer to its outcome
    kinds: dict[uuid.UUID, str] = field(default_factory=dict)
    outcomes: dict[uuid.UUID, str] = field(default_factory=dict)
    pending: set[uuid.UUID] = field(default_factory=set)
    to_collect: list[str] = field(default_factory=list)  # serials whose sale was applied
    tasks: set[asyncio.Task] = field(default_factory=set)  # sends in flight
    sale_serial: dict[uuid.UUID, str] = field(default_factory=dict)
    last_progress: float = 0.0
    stall: float = 0.0
    stall_at: float = 0.0
    killed_at: float | None = None
    restarted_at: float | None = None

    def now(self) -> float:
        return time.monotonic() - self.t0


async def send(producer: AIOKafkaProducer, run: Run, event: dict, kind: str) -> None:
    """Send until Kafka acknowledges (acks=all); a retry is the same event, which the inbox deduplicates."""
    topic = topics.TOPIC_OF_TYPE[event["type"]]
    key = event["data"][topics.KEY_FIELD_OF_TYPE[event["type"]]].encode()
    event_id = uuid.UUID(event["event_id"])
    run.kinds[event_id] = kind
    if not run.pending:
        run.last_progress = run.now()  # a stall is counted from when something is waiting
    run.submitted[event_id] = run.now()
    run.pending.add(event_id)  # pending from now: an event the producer still retries is waiting too
    value = json.dumps(event).encode()
    while True:
        try:
            await producer.send_and_wait(topic, value, key=key)
            break
        except ProducerClosed:
            raise
        except KafkaError as error:  # a timeout while leaders move: send it again
            print(f"  t={run.now():5.1f} s resend {kind}: {error!r}")
            await asyncio.sleep(0.5)
    run.sent[event_id] = run.now()


async def sender(producer: AIOKafkaProducer, run: Run, store: str, centre: str) -> None:
    tick = 0.1
    while run.now() < SEND_FOR_S:
        started = run.now()
        for _ in range(int(SALES_PER_S * tick)):
            serial = unique("BAT")
            sale = envelope(
                "sale.recorded",
                "pos",
                store,
                {"sale_id": unique("S"), "store_id": store, "currency": EUR, "items": [item(serial)]},
            )
            run.sale_serial[uuid.UUID(sale["event_id"])] = serial
            run.tasks.add(asyncio.create_task(send(producer, run, sale, "sale")))
        serials, run.to_collect = run.to_collect, []
        for serial in serials:
            collection = envelope(
                "collection.logged",
                "return_centre",
                centre,
                {
                    "collection_id": unique("C"),
                    "centre_id": centre,
                    "serial": serial,
                    "condition": "functional",
                },
            )
            run.tasks.add(asyncio.create_task(send(producer, run, collection, "collection")))
        run.tasks = {task for task in run.tasks if not task.done()}
        await asyncio.sleep(max(0.0, tick - (run.now() - started)))
    await asyncio.gather(*run.tasks)


async def watcher(pool, run: Run) -> None:
    """Poll the inbox for the outcomes of pending events; keep the longest gap without a new one."""
    while True:
        await asyncio.sleep(0.2)
        if not run.pending:
            continue
        rows = await pool.fetch(
            "SELECT event_id, outcome FROM scheme.inbox WHERE event_id = ANY($1::uuid[])", list(run.pending)
        )
        now = run.now()
        if rows:
            for row in rows:
                run.outcomes[row["event_id"]] = row["outcome"]
                run.latency = max(run.latency, now - run.submitted[row["event_id"]])
                run.pending.discard(row["event_id"])
                if run.kinds[row["event_id"]] == "sale" and row["outcome"] == "applied":
                    run.to_collect.append(run.sale_serial[row["event_id"]])
            run.last_progress = now
        elif now - run.last_progress > run.stall:
            run.stall, run.stall_at = now - run.last_progress, run.last_progress


async def streams_coordinator(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await admin.find_coordinator(group)
    finally:
        await admin.close()


async def test_one_broker_killed_under_load_loses_and_doubles_nothing(cluster):
    stack, settings = cluster, cluster.settings
    victim_id = await streams_coordinator(stack.bootstrap, settings.streams_group)
    victim = stack.brokers[victim_id - 1]
    pool = await create_pool(settings.database_url)
    try:
        await broker_lost_under_load(stack, pool, victim)
    finally:
        await pool.close()


async def broker_lost_under_load(stack: Stack, pool, victim) -> None:
    settings = stack.settings
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=30_000
    )
    await producer.start()
    run = Run()
    watching = asyncio.create_task(watcher(pool, run))
    sending = asyncio.create_task(sender(producer, run, unique("store"), unique("centre")))
    try:
        await asyncio.sleep(KILL_AT_S)
        await asyncio.to_thread(victim.kill)
        run.killed_at = run.now()
        print(f"  t={run.killed_at:5.1f} s SIGKILL {victim.name} (coordinator of {settings.streams_group})")
        health = {row["part"]: row["healthy"] for row in await asyncio.to_thread(stack.status)}
        assert {part: up for part, up in health.items() if part.startswith("kafka")} == {
            broker.name: broker is not victim for broker in stack.brokers
        }  # `takeback status`: a row per broker
        await asyncio.sleep(max(0.0, run.killed_at + DOWN_FOR_S - run.now()))
        run.restarted_at = run.now()
        await asyncio.to_thread(stack._kafka_up)  # starts what is not running and waits for all three
        print(f"  t={run.restarted_at:5.1f} s {victim.name} started again, healthy at t={run.now():5.1f} s")
        await sending
        # Collections of the last sales applied, then nothing more to send.
        while (run.pending or run.to_collect) and run.now() < SEND_FOR_S + SETTLE_TIMEOUT_S:
            if run.to_collect:
                await sender_tail(producer, run)
            await asyncio.sleep(0.2)
    finally:
        for task in (watching, sending, *run.tasks):
            task.cancel()
        await producer.stop()
    assert not run.pending, (
        f"{len(run.pending)} events without an outcome {SETTLE_TIMEOUT_S:.0f} s after sending"
    )

    sales = [e for e, kind in run.kinds.items() if kind == "sale"]
    collections = [e for e, kind in run.kinds.items() if kind == "collection"]
    during_outage = sum(1 for at in run.sent.values() if run.killed_at < at < run.restarted_at)
    print(
        f"  sent {len(sales)} sales and {len(collections)} collections, {during_outage} acknowledged "
        f"while {victim.name} was down; longest stall {run.stall:.1f} s (from t={run.stall_at:.1f} s), "
        f"slowest event {run.latency:.1f} s from producer to outcome"
    )
    assert during_outage > 0, "no write went through with one broker down"

    # Every event sent: exactly one outcome (the inbox's key is the event id), and here each is applied.
    rows = await pool.fetch(
        "SELECT event_id, outcome, reason FROM scheme.inbox WHERE event_id = ANY($1::uuid[])", list(run.kinds)
    )
    assert len(rows) == len(run.kinds) == len({r["event_id"] for r in rows})
    assert {r["outcome"] for r in rows} <= {"applied", "rejected"}
    assert [(r["outcome"], r["reason"]) for r in rows if r["outcome"] != "applied"] == []

    # No refund doubled, no ledger entry doubled.
    refunds = await pool.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT serial) AS serials FROM scheme.refunds"
    )
    assert refunds["n"] == refunds["serials"] == len(collections)
    doubled = await pool.fetchval(
        "SELECT count(*) FROM (SELECT posting_key FROM ledger.entries "
        "GROUP BY posting_key HAVING count(*) > 1) d"
    )
    assert doubled == 0

    # The ledger catches up and the books agree with the batteries.
    deadline, result = time.monotonic() + SETTLE_TIMEOUT_S, None
    while time.monotonic() < deadline:
        result = await reconcile(pool)
        if result["status"] == "balanced":
            break
        await asyncio.sleep(2)
    assert result["status"] == "balanced", [c for c in result["checks"] if not c["ok"]]
    entries = await pool.fetchval("SELECT count(*) FROM ledger.entries")
    postings = await pool.fetchval("SELECT count(*) FROM scheme.postings")
    assert entries == postings

    assert run.stall < STALL_MAX_S, f"no outcome for {run.stall:.1f} s while events were pending"

    # The restarted broker caught up: every partition of the scheme's topics is on three in-sync replicas.
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while (short := await under_replicated(stack.bootstrap)) and time.monotonic() < deadline:
        await asyncio.sleep(1)
    assert short == []


async def under_replicated(bootstrap: str) -> list[tuple[str, int, list[int]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topic_names())
    finally:
        await admin.close()
    return [
        (t["topic"], p["partition"], p["isr"])
        for t in described
        for p in t["partitions"]
        if len(p["replicas"]) != 3 or len(p["isr"]) != 3
    ]


async def sender_tail(producer: AIOKafkaProducer, run: Run) -> None:
    """After the timed phase: the collections of sales applied since."""
    serials, run.to_collect = run.to_collect, []
    centre = unique("centre")
    await asyncio.gather(
        *(
            send(
                producer,
                run,
                envelope(
                    "collection.logged",
                    "return_centre",
                    centre,
                    {
                        "collection_id": unique("C"),
                        "centre_id": centre,
                        "serial": serial,
                        "condition": "functional",
                    },
                ),
                "collection",
            )
            for serial in serials
        )
    )
