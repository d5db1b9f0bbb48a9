"""The scheme's figures at scrape time: events processed (inbox), consumer lag, posting latency.

Read at most every `REFRESH_INTERVAL_S` (a burst of scrapes costs one round of
queries); a source that fails or times out is counted in
`takeback_gateway_scrape_errors_total` and its figures are left out of that scrape.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import asyncpg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from services.common.logging import get_logger
from services.gateway.adapters import scheme_figures
from services.gateway.adapters.consumer_lag import ConsumerLagReader
from services.gateway.entrypoints.metrics import GatewayMetrics

log = get_logger(__name__)
REFRESH_INTERVAL_S = 5.0


class SchemeMetrics(Collector):
    def __init__(
        self, pool: asyncpg.Pool | None, lag_reader: ConsumerLagReader | None, metrics: GatewayMetrics
    ) -> None:
        self.pool, self.lag_reader, self.metrics = pool, lag_reader, metrics
        self.processed: Counter[tuple[str, str, str]] | None = None
        self.lag: Counter[tuple[str, str]] | None = None
        self.posting: dict[str, float] | None = None
        self._refreshed_at = float("-inf")
        self._lock = asyncio.Lock()
        metrics.add_collector(self)

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._refreshed_at < REFRESH_INTERVAL_S:
                return
            self.processed, self.posting, self.lag = await asyncio.gather(
                self._read("inbox", self._processed()),
                self._read("ledger", self._posting()),
                self._read("kafka", self._lag()),
            )
            self._refreshed_at = time.monotonic()

    async def _processed(self):
        return None if self.pool is None else await scheme_figures.events_processed(self.pool)

    async def _posting(self):
        return None if self.pool is None else await scheme_figures.posting_latency(self.pool)

    async def _lag(self):
        return None if self.lag_reader is None else await self.lag_reader.lag()

    async def _read(self, source: str, reading):
        try:
            return await reading
        except Exception as error:  # noqa: BLE001  a scrape never fails: the source is counted and logged
            self.metrics.scrape_errors.labels(source).inc()
            log.warning("scheme_figures_unavailable", source=source, error=type(error).__name__)
            return None

    def collect(self):
        if self.processed is not None:
            events = CounterMetricFamily(
                "takeback_scheme_events",
                "Events in processed by the scheme (scheme.inbox): applied, or rejected with the reason",
                labels=["type", "outcome", "reason"],
            )
            for (event_type, outcome, reason), count in sorted(self.processed.items()):
                events.add_metric([event_type, outcome, reason], count)
            yield events
        if self.lag is not None:
            lag = GaugeMetricFamily(
                "takeback_consumer_lag_messages",
                "Messages not yet committed by a consumer group, per topic",
                labels=["group", "topic"],
            )
            for (group, topic), messages in sorted(self.lag.items()):
                lag.add_metric([group, topic], messages)
            yield lag
        if self.posting:
            latency = GaugeMetricFamily(
                "takeback_posting_latency_seconds",
                "posted_at - effective_at over the "
                f"last {scheme_figures.POSTING_SAMPLE_ENTRIES} journal entries",
                labels=["quantile"],
            )
            for quantile in scheme_figures.POSTING_QUANTILES:
                latency.add_metric([str(quantile)], self.posting[str(quantile)])
            latency.add_metric(["1"], self.posting["max"])
            yield latency
