"""Wiring: settings in, a `Gateway` out, with real clients (`running_gateway`) or fakes (`build_gateway`).

Clients are created at start-up, never at import: the FastAPI app opens them in
its lifespan and closes them on the way out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import asyncpg

from services.common.db import create_pool
from services.common.health_report import HealthMonitor
from services.common.kafka import client_options
from services.common.settings import Settings
from services.gateway.adapters.consumer_lag import ConsumerLagReader
from services.gateway.adapters.event_publisher import KafkaEventPublisher, create_producer
from services.gateway.adapters.event_records import InboxListener, InMemoryEventRecords, PostgresEventRecords
from services.gateway.adapters.key_repository import PostgresKeyRepository
from services.gateway.adapters.reconciliation_runs import (
    InMemoryReconciliationRuns,
    PostgresReconciliationRuns,
)
from services.gateway.entrypoints.metrics import GatewayMetrics
from services.gateway.entrypoints.scheme_metrics import SchemeMetrics
from services.gateway.read_models import PostgresReadModels
from services.gateway.service_layer.authentication import KeyVerifier
from services.gateway.service_layer.event_status import AcceptedLog, Listen, OutcomeWatch
from services.gateway.service_layer.ports import (
    EventPublisher,
    EventRecords,
    KeyRepository,
    ReadModels,
    ReconciliationRuns,
)
from services.gateway.service_layer.rate_limiting import RateLimiter
from services.gateway.service_layer.reconciliation_runs import ReconciliationRunner


@dataclass
class Gateway:
    settings: Settings
    pool: asyncpg.Pool | None
    publisher: EventPublisher
    keys: KeyVerifier
    read_models: ReadModels  # the streams' and the ledger's, wired here (read_models.py)
    metrics: GatewayMetrics
    scheme_metrics: SchemeMetrics
    limits: RateLimiter
    reconciliations: ReconciliationRunner  # runs on request, one at a time
    event_records: EventRecords  # events' outcomes, and the events accepted here (contract 8.2)
    accepted_log: AcceptedLog
    outcomes: OutcomeWatch  # answers `Prefer: wait` (its loop runs in `running_gateway`)
    ready: bool = False
    health: HealthMonitor | None = None  # the scheme's health report, refreshed in the background


def build_gateway(
    settings: Settings,
    *,
    publisher: EventPublisher,
    key_repository: KeyRepository,
    pool: asyncpg.Pool | None = None,
    lag_reader: ConsumerLagReader | None = None,
    metrics: GatewayMetrics | None = None,
    reconcile: Callable[[], Awaitable[dict]] | None = None,
    reconciliation_runs: ReconciliationRuns | None = None,
    event_records: EventRecords | None = None,
    listen: Listen | None = None,
    read_models: ReadModels | None = None,
) -> Gateway:
    metrics = metrics or GatewayMetrics()
    limits = RateLimiter.from_settings(settings, on_limited=metrics.limited)
    runs = reconciliation_runs or (PostgresReconciliationRuns(pool) if pool else InMemoryReconciliationRuns())
    models = read_models or PostgresReadModels(pool, settings)
    runner = ReconciliationRunner(
        reconcile or models.reconcile, runs, on_finished=metrics.reconciliation_finished
    )
    records = event_records or (PostgresEventRecords(pool) if pool else InMemoryEventRecords())
    outcomes = OutcomeWatch(records, listen)
    metrics.watch(limits, outcomes)
    return Gateway(
        settings=settings,
        pool=pool,
        publisher=publisher,
        keys=KeyVerifier(key_repository),
        read_models=models,
        metrics=metrics,
        scheme_metrics=SchemeMetrics(pool, lag_reader, metrics),
        limits=limits,
        reconciliations=runner,
        event_records=records,
        accepted_log=AcceptedLog(records),
        outcomes=outcomes,
    )


@asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[Gateway]:
    """A gateway on the real PostgreSQL and Kafka, ready when entered; everything closed on exit."""
    async with AsyncExitStack() as stack:
        # Its sessions hold no state (its LISTEN has a connection of its own): no reset query per use.
        pool = await create_pool(settings.database_url, settings=settings, stateless_sessions=True)
        stack.push_async_callback(pool.close)
        producers = [create_producer(settings) for _ in range(settings.gateway_producers)]
        for producer in producers:
            stack.push_async_callback(producer.stop)
            await producer.start()
        lag_reader = ConsumerLagReader(settings.kafka_bootstrap, options=client_options(settings))
        stack.push_async_callback(lag_reader.stop)
        await lag_reader.start()
        listener = InboxListener(settings.database_url)
        stack.push_async_callback(listener.close)
        metrics = GatewayMetrics()
        gateway = build_gateway(
            settings,
            publisher=KafkaEventPublisher(producers, observe=metrics.produced),
            key_repository=PostgresKeyRepository(pool),
            pool=pool,
            lag_reader=lag_reader,
            metrics=metrics,
            listen=listener.listen,
        )
        gateway.health = HealthMonitor(pool, settings)
        monitoring = asyncio.create_task(gateway.health.run_forever())
        watching = asyncio.create_task(gateway.outcomes.run_forever())
        following = asyncio.create_task(metrics.follow())
        refreshing = asyncio.create_task(gateway.keys.keep_fresh())  # keys in use read in one query
        gateway.ready = True
        try:
            yield gateway
        finally:
            gateway.ready = False
            for task in (monitoring, watching, following, refreshing):
                task.cancel()
            metrics.worker_ended()
            await gateway.health.close()  # its Kafka clients (bounded), before the loop ends
