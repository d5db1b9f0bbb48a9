"""Sending planned events as real producers do: Kafka (acks=all, idempotent) or the gateway over HTTP.

A send that fails is sent again with the same bytes, hence the same event_id
(the contract's idempotency): the producer retries on its own, then this sends
again while the broker is away; an HTTP client retries while the gateway is
down, busy (429) or failing (5xx), within the outage window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from aiokafka import AIOKafkaProducer

from services.chaos.plan import HTTP, NEW, Planned
from services.common.gateway_client import send_event
from services.common.outage import BROKER_AWAY, through_outage

HTTP_CONCURRENCY = 16


@dataclass
class SendCounts:
    kafka: int = 0
    http: int = 0
    retries: int = 0
    positions: dict[str, tuple[str, int, int]] = field(
        default_factory=dict
    )  # event_id -> (topic, partition, offset)

    def retried(self) -> None:
        self.retries += 1


class Sender:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        http: httpx.AsyncClient,
        keys: dict[str, str],
        on_attempt: Callable[[Planned], None],
    ):
        self.producer, self.http, self.keys, self.on_attempt = producer, http, keys, on_attempt
        self.gate = asyncio.Semaphore(HTTP_CONCURRENCY)
        self.counts = SendCounts()

    async def send_all(self, events: tuple[Planned, ...]) -> None:
        for item in events:
            self.on_attempt(item)
        await asyncio.gather(*[self._http(i) if i.route == HTTP else self._kafka(i) for i in events])

    async def _kafka(self, item: Planned) -> None:
        async def produce():
            return await (await self.producer.send(item.topic, item.value, key=item.key.encode()))

        metadata = await through_outage(
            produce,
            f"sending {item.event_type} {item.event_id} to Kafka",
            BROKER_AWAY,
            on_retry=self.counts.retried,
        )
        self.counts.kafka += 1
        if item.kind != NEW:  # found by its position when it has no inbox row of its own
            self.counts.positions[item.event_id] = (item.topic, metadata.partition, metadata.offset)

    async def _http(self, item: Planned) -> None:
        async with self.gate:
            await send_event(
                self.http,
                item.value,
                self.keys[item.source_id],
                f"sending {item.event_type} {item.event_id} to the gateway",
                on_retry=self.counts.retried,
            )
        self.counts.http += 1
