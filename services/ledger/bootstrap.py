"""Wires the ledger: the pool, the consumer, the producer and the outbox relay, created at start-up."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer

from services.common.channels import LEDGER_OUTBOX_CHANNEL
from services.common.db import create_pool
from services.common.kafka import client_options
from services.common.outbox import Relay, create_producer
from services.common.outbox_tail import OutboxTail
from services.common.settings import Settings
from services.ledger.adapters.postings_consumer import PostingsConsumer

OUTBOX_SCHEMA = "ledger"


@dataclass
class Ledger:
    settings: Settings
    pool: asyncpg.Pool
    consumer: PostingsConsumer
    producer: AIOKafkaProducer
    relay: Relay

    async def stop(self) -> None:
        """Stop reading first, then publishing, then the database."""
        await self.consumer.stop()
        await self.producer.stop()
        await self.pool.close()


async def bootstrap(settings: Settings) -> Ledger:
    pool = await create_pool(settings.database_url, settings=settings)
    producer = create_producer(settings.kafka_bootstrap, client_options(settings))
    await producer.start()
    consumer = PostingsConsumer(
        settings.kafka_bootstrap,
        settings.batch_max_events,
        settings.batch_max_wait_ms,
        options=client_options(settings),
    )
    await consumer.start()
    relay = Relay(
        pool,
        producer,
        OUTBOX_SCHEMA,
        settings.outbox_batch_max,
        settings.outbox_poll_ms / 1000,
        settings.outbox_retention_hours * 3600,
        OutboxTail(settings.kafka_bootstrap, client_options(settings)),
        wake_channel=LEDGER_OUTBOX_CHANNEL,  # every transaction that writes the outbox notifies it
    )
    return Ledger(settings, pool, consumer, producer, relay)
