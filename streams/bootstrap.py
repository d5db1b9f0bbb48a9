"""Wiring the stream worker: its settings in, one typed object out.

Clients are made at start-up inside the running loop (never at import time)
and passed in; the faust app reaches them through `Wiring`, which it awaits
before its first batch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from services.common.channels import INBOX_CHANNEL
from services.common.db import create_pool
from services.common.health_report import HealthMonitor
from services.common.kafka import client_options
from services.common.outbox import Relay, create_producer
from services.common.outbox_tail import OutboxTail
from services.common.settings import Settings
from streams.adapters.signing_keys import SigningKeys


@dataclass(frozen=True, slots=True)
class Streams:
    """What the stream worker runs with: the database, the signers' keys, its outbox relay and health."""

    settings: Settings
    pool: asyncpg.Pool
    batches: asyncpg.Pool  # the batches' transactions only: no session state, so no reset query a batch
    keys: SigningKeys
    relay: Relay
    monitor: HealthMonitor


async def bootstrap(settings: Settings) -> Streams:
    pool = await create_pool(settings.database_url, settings=settings)
    # A worker applies one batch at a time (a second connection for the one-event-a-transaction isolation
    # of a poison event is never needed at once); each is a transaction and nothing else.
    batches = await create_pool(settings.database_url, max_size=2, settings=settings, stateless_sessions=True)
    producer = create_producer(settings.kafka_bootstrap, client_options(settings))
    await producer.start()
    relay = Relay(
        pool,
        producer,
        "scheme",
        settings.outbox_batch_max,
        settings.outbox_poll_ms / 1000,
        settings.outbox_retention_hours * 3600,
        OutboxTail(settings.kafka_bootstrap, client_options(settings)),
        wake_channel=INBOX_CHANNEL,  # every batch that writes the outbox notifies it at commit
    )
    return Streams(settings, pool, batches, SigningKeys(pool), relay, HealthMonitor(pool, settings))


class Wiring:
    """The `Streams` once start-up made them, and whether this worker holds partitions (for /healthz)."""

    def __init__(self) -> None:
        self._streams: Streams | None = None
        self._started = asyncio.Event()
        self.assigned = False

    def provide(self, streams: Streams) -> None:
        assert self._streams is None, "the stream worker is wired once"
        self._streams = streams
        self._started.set()

    async def streams(self) -> Streams:
        await self._started.wait()
        assert self._streams is not None
        return self._streams

    def ready(self) -> bool:
        return self.assigned and self._streams is not None
