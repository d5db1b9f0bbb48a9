"""Sending planned events as real producers do: Kafka (acks=all, idempotent) or the gateway over HTTP.

A send that fails is sent again with the same bytes, hence the same event_id
(the contract's idempotency): the producer retries on its own; an HTTP client
retries while the gateway is down, busy (429, 503) or fails (5xx), within a
bounded window.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.chaos.errors import ChaosError
from services.chaos.plan import HTTP, NEW, Planned
from services.common.logging import get_logger

log = get_logger(__name__)
HTTP_CONCURRENCY = 16
HTTP_RETRY_WINDOW_S = 180.0  # a gateway, or the database its keys live in, away for longer fails the run
HTTP_RETRY_WAIT_MAX_S = 2.0
HTTP_RETRYABLE = (429, 500, 502, 503, 504)
KAFKA_ATTEMPTS_MAX = 10  # each attempt is the producer's own retries until its delivery timeout


@dataclass
class SendCounts:
    kafka: int = 0
    http: int = 0
    http_retries: int = 0
    kafka_retries: int = 0
    positions: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # event_id -> (topic, partition, offset)


class Sender:
    def __init__(self, producer: AIOKafkaProducer, http: httpx.AsyncClient, keys: dict[str, str],
                 on_attempt: Callable[[Planned], None]):
        self.producer, self.http, self.keys, self.on_attempt = producer, http, keys, on_attempt
        self.gate = asyncio.Semaphore(HTTP_CONCURRENCY)
        self.counts = SendCounts()

    async def send_all(self, events: tuple[Planned, ...]) -> None:
        for item in events:
            self.on_attempt(item)
        await asyncio.gather(*[self._http(i) if i.route == HTTP else self._kafka(i) for i in events])

    async def _kafka(self, item: Planned) -> None:
        for attempt in range(1, KAFKA_ATTEMPTS_MAX + 1):
            try:
                metadata = await (await self.producer.send(item.topic, item.value, key=item.key.encode()))
            except KafkaError as error:
                if attempt == KAFKA_ATTEMPTS_MAX:
                    raise ChaosError(f"Kafka did not take {item.event_type} {item.event_id} after "
                                     f"{attempt} attempts: {error!r}") from None
                self.counts.kafka_retries += 1
                log.warning("chaos_kafka_send_retry", event_id=item.event_id, attempt=attempt, error=repr(error))
                await asyncio.sleep(min(attempt, 5))
                continue
            self.counts.kafka += 1
            if item.kind != NEW:  # found by its position when it has no inbox row of its own
                self.counts.positions[item.event_id] = (item.topic, metadata.partition, metadata.offset)
            return

    async def _http(self, item: Planned) -> None:
        deadline, wait_s = time.monotonic() + HTTP_RETRY_WINDOW_S, 0.2
        while True:
            reason, retry_after = await self._post(item)
            if reason is None:
                self.counts.http += 1
                return
            if time.monotonic() > deadline:
                raise ChaosError(f"the gateway did not accept {item.event_type} {item.event_id} within "
                                 f"{HTTP_RETRY_WINDOW_S:.0f} s (last: {reason})")
            self.counts.http_retries += 1
            await asyncio.sleep(retry_after or wait_s)
            wait_s = min(wait_s * 2, HTTP_RETRY_WAIT_MAX_S)

    async def _post(self, item: Planned) -> tuple[str | None, float | None]:
        """(None, None) once accepted (202); else why, and how long the gateway asked us to wait."""
        headers = {"Authorization": f"Bearer {self.keys[item.source_id]}", "Content-Type": "application/json"}
        try:
            async with self.gate:
                response = await self.http.post("/v1/events", content=item.value, headers=headers)
        except httpx.TransportError as error:
            return f"{type(error).__name__}", None
        if response.status_code == 202:
            return None, None
        if response.status_code not in HTTP_RETRYABLE:
            raise ChaosError(f"the gateway refused {item.event_type} {item.event_id}: "
                             f"{response.status_code} {response.text[:300]}")
        retry_after = response.headers.get("retry-after", "")
        return f"HTTP {response.status_code}", float(retry_after) if retry_after.isdigit() else None
