"""`takeback bench`: battery lives through the running stack, against the raw ceilings.

A restart of PostgreSQL or Kafka during the run is waited out: a send that
failed is made again with the same bytes (the same event_id), a poll of the
database is made again, within `outage.OUTAGE_WINDOW_S`; a longer outage ends
the run with `OutageTooLong`, one sentence.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from services.bench import ceilings, scenario
from services.bench.memory import cpu_seconds, cpu_ticks, own_cpu_ticks, peak_rss_mb
from services.common import outage
from services.common.kafka import client_options, events_producer
from services.common.settings import Settings

POLL_S = 0.2
# A wave is not polled before this share of the previous wave's time: each poll reads every battery of the
# wave, and polling all along was a tenth of PostgreSQL's work in a 1,000,000-battery run.
QUIET_SHARE = 0.7
CHUNK_BATTERIES = 5000  # a multiple of the lot and sale sizes
CEILING_SAMPLE_MAX = 200_000  # messages kept to measure the ceilings with (a rate needs no more)
PHASE_TIMEOUT_S = 1800.0
STATE_AFTER = {
    "sales": "in_use",
    "collections": "collected",
    "dispatches": "in_transit",
    "receipts": "at_recycler",
    "recoveries": "recycled",
}


def interleave(parts: list[list]) -> list:
    """The stages of a wave mixed evenly, as a day's traffic mixes sales, collections and lots.

    Each stage keeps its own order; a stage of 500 sales is spread over the wave
    instead of arriving as one burst of 5,000 postings.
    """
    placed = [
        ((index + 0.5) / len(part), stage, item)
        for stage, part in enumerate(parts)
        for index, item in enumerate(part)
    ]
    placed.sort(key=lambda p: (p[0], p[1]))
    return [item for _, _, item in placed]


class Bench:
    def __init__(
        self, settings: Settings, batteries: int, rate: float, progress: Callable[[str, int, int], None]
    ):
        self.settings, self.batteries, self.rate, self.progress = settings, batteries, rate, progress
        self.names = scenario.Names(run=f"B{uuid.uuid4().hex[:8]}")
        self.low, self.high = f"{self.names.run}-", f"{self.names.run}."  # the run's key range

    async def run(self) -> dict:
        pool = await outage.create_client_pool(self.settings.database_url)
        producer = events_producer(
            self.settings, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=512 * 1024
        )
        await producer.start()
        sent: list[tuple[str, bytes]] = []
        self.events = 0
        run_dir = self.settings.state_dir / "run"
        try:
            ticks_before, own_before = cpu_ticks(run_dir), own_cpu_ticks()
            started = time.perf_counter()
            await self._waves(pool, producer, sent)
            expected = scenario.expected_entries(self.batteries)
            await self._wait(pool, "ledger entries posted", [self._entries(pool)], expected)
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(
                {**ticks_before, "bench": own_before}, {**cpu_ticks(run_dir), "bench": own_cpu_ticks()}
            )
            p50, p95, p99 = await outage.through_outage(
                lambda: self._latency(pool), "reading latency", outage.DATABASE_AWAY
            )
        finally:
            await producer.stop()
            await pool.close()
        events = self.events
        self.progress("ceiling: kafka", 0, 1)
        kafka = await outage.through_outage(
            lambda: ceilings.kafka_events_per_second(
                self.settings.kafka_bootstrap,
                sent,
                self.settings.topic_partitions,
                client_options(self.settings),
            ),
            "the Kafka ceiling",
            outage.BROKER_AWAY,
        )
        self.progress("ceiling: postgres", 0, 1)
        postgres = await outage.through_outage(
            lambda: ceilings.postgres_events_per_second(
                self.settings.database_owner_url, events, self.batteries, len(sent), self.names
            ),
            "the PostgreSQL ceiling",
            outage.DATABASE_AWAY,
        )
        throughput = events / elapsed
        return {
            "batteries": self.batteries,
            "events": events,
            "seconds": round(elapsed, 2),
            "events_per_second": round(throughput, 1),
            "rate_limit_events_per_second": self.rate or None,
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "ceiling_kafka_events_per_second": round(kafka, 1),
            "ceiling_postgres_events_per_second": round(postgres, 1),
            "share_of_lower_ceiling": round(throughput / min(kafka, postgres), 3),
            "journal_entries": scenario.expected_entries(self.batteries),
            "ceiling_sample_events": len(sent),
            "peak_rss_mb": peak_rss_mb(run_dir),
            "cpu_seconds": cpu,
            "cpu_ms_per_event": round(sum(cpu.values()) * 1000 / events, 3),
        }

    async def _waves(self, pool, producer, sent: list) -> None:
        """Wave w holds stage s of chunk w - s: every stage of a life is busy at once, in order per
        battery."""
        chunks = [
            range(first, min(first + CHUNK_BATTERIES, self.batteries))
            for first in range(0, self.batteries, CHUNK_BATTERIES)
        ]
        stages = len(scenario.PHASES)
        previous_s = 0.0
        for wave in range(len(chunks) + stages - 1):
            waiting, parts = [], []
            for stage, (name, phase) in enumerate(scenario.PHASES):
                if 0 <= wave - stage < len(chunks):
                    chunk = chunks[wave - stage]
                    parts.append(list(phase(self.names, chunk)))
                    waiting.append(self._state_count(pool, STATE_AFTER[name], chunk))
            await self._produce(producer, interleave(parts), sent)
            started = time.perf_counter()
            await asyncio.sleep(QUIET_SHARE * previous_s)
            await self._wait(
                pool,
                f"wave {wave + 1}/{len(chunks) + stages - 1}",
                waiting,
                sum(len(c) for c in chunks[max(0, wave - stages + 1) : wave + 1]),
            )
            previous_s = time.perf_counter() - started

    async def _produce(self, producer, messages, sample: list) -> None:
        """Send as fast as allowed; keep a sample of what was sent for the ceilings.

        A message the producer could not deliver (the broker was away longer than its own
        retries) is sent again, the same bytes, until it is acknowledged."""
        sends, started = [], time.perf_counter()
        for topic, key, make in messages:
            if self.rate:
                ahead = len(sends) / self.rate - (time.perf_counter() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            value = scenario.encode(make())
            sends.append((topic, key.encode(), value, await _send(producer, topic, key.encode(), value)))
            if len(sample) < CEILING_SAMPLE_MAX:
                sample.append((key, value))
        results = await asyncio.gather(*[future for *_, future in sends], return_exceptions=True)
        for (topic, key, value, _), result in zip(sends, results):
            if isinstance(result, BaseException):
                await outage.through_outage(
                    lambda t=topic, k=key, v=value: producer.send_and_wait(t, v, key=k),
                    f"sending to {topic}",
                    outage.BROKER_AWAY,
                )
        self.events += len(sends)

    async def _wait(self, pool, name: str, counts: list, expected: int) -> None:
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        while time.monotonic() < deadline:
            done = sum(
                [
                    await outage.through_outage(count, f"polling {name}", outage.DATABASE_AWAY)
                    for count in counts
                ]
            )
            self.progress(name, done, expected)
            if done >= expected:
                return
            await asyncio.sleep(POLL_S)
        raise TimeoutError(f"bench phase {name}: {done} of {expected} after {PHASE_TIMEOUT_S} s")

    def _state_count(self, pool, state: str, chunk: range):
        low, high = self.names.serial(chunk.start), self.names.serial(chunk.stop)
        return lambda: pool.fetchval(
            "SELECT count(*) FROM scheme.batteries WHERE serial >= $1 AND serial < $2 AND state = $3",
            low,
            high,
            state,
        )

    def _entries(self, pool):
        return lambda: pool.fetchval(
            "SELECT count(*) FROM ledger.entries WHERE subject >= $1 AND subject < $2", self.low, self.high
        )

    async def _latency(self, pool) -> tuple[float, float, float]:
        row = await pool.fetchrow(
            "SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP "
            "(ORDER BY extract(epoch FROM posted_at - effective_at)) AS q "
            "FROM ledger.entries WHERE subject >= $1 AND subject < $2",
            self.low,
            self.high,
        )
        return tuple(round(q * 1000, 1) for q in row["q"])


async def _send(producer, topic: str, key: bytes, value: bytes) -> asyncio.Future:
    """The delivery future of one message; enqueueing itself waits out a broker that is away."""
    return await outage.through_outage(
        lambda: producer.send(topic, value, key=key), f"sending to {topic}", outage.BROKER_AWAY
    )
