"""The gateway's own Prometheus instruments, on a registry of its own (plus the scheme's figures).

With several worker processes (`PROMETHEUS_MULTIPROC_DIR` set by the server before they
start), every worker writes its counts to files in that folder and `/metrics`, whichever
worker answers it, sums them all: a count of requests is the gateway's, not one worker's.
The rate-limit tables' sizes and the waiting requests are then the sum over live
workers, as of their last `FOLLOW_INTERVAL_S`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

FOLLOW_INTERVAL_S = 5.0
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
SERIES_REMEMBERED_MAX = (
    1_000  # labelled series kept at hand for the per-request counts (each is a few objects)
)
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._series: dict[tuple, tuple] = {}  # the labelled children a request counts in, found once
        self.shared_dir = os.environ.get(METRICS_DIR_ENV)  # several workers: counts in shared files
        self.collectors: list[Collector] = []  # figures made at scrape time (the scheme's), by the worker
        self.requests = Counter(
            "takeback_gateway_http_requests_total",
            "HTTP requests answered, by route template and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "takeback_gateway_http_request_seconds",
            "Time to answer an HTTP request",
            ["route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.events = Counter(
            "takeback_gateway_events_total",
            "Events offered over HTTP: accepted, or refused with the reason",
            ["type", "outcome", "reason"],
            registry=self.registry,
        )
        self.produce_seconds = Histogram(
            "takeback_gateway_produce_seconds",
            "Time for Kafka to acknowledge an event (acks=all)",
            ["topic"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.scrape_errors = Counter(
            "takeback_gateway_scrape_errors_total",
            "Scheme figures that could not be read at scrape time",
            ["source"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "takeback_gateway_rate_limited_total",
            "Requests refused 429, by limit: `key` (requests per key) or "
            "`address` (failed authentications per client address)",
            ["kind"],
            registry=self.registry,
        )
        self.rate_limit_buckets = Gauge(
            "takeback_gateway_rate_limit_buckets",
            "Token buckets held (bounded), by limit",
            ["kind"],
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.waiting_requests = Gauge(
            "takeback_gateway_waiting_requests",
            "Requests waiting with `Prefer: wait` for their event's outcome",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.reconciliation_runs = Counter(
            "takeback_gateway_reconciliation_runs_total",
            "Reconciliation runs made on request, by outcome",
            ["outcome"],
            registry=self.registry,
        )

    def limited(self, kind: str) -> None:
        self.rate_limited.labels(kind).inc()

    def instruments(self) -> list[MetricWrapperBase]:
        return [value for value in vars(self).values() if isinstance(value, MetricWrapperBase)]

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)
        self.collectors.append(collector)

    def watch(self, limits, outcomes) -> None:
        """The rate limiter's table sizes and the waiting requests: read at scrape time, or (several workers)
        by `follow`."""
        self.limits, self.outcomes = limits, outcomes
        if self.shared_dir is None:
            self.rate_limit_buckets.labels("key").set_function(lambda: len(limits.keys))
            self.rate_limit_buckets.labels("address").set_function(lambda: len(limits.failures))
            self.waiting_requests.set_function(lambda: outcomes.waiting)

    async def follow(self) -> None:
        """With several workers: this worker's table sizes into the shared files, every FOLLOW_INTERVAL_S."""
        while self.shared_dir is not None:
            self.rate_limit_buckets.labels("key").set(len(self.limits.keys))
            self.rate_limit_buckets.labels("address").set(len(self.limits.failures))
            self.waiting_requests.set(self.outcomes.waiting)
            await asyncio.sleep(FOLLOW_INTERVAL_S)

    def exposition(self) -> bytes:
        """The Prometheus text: this registry, or (several workers) every worker's counts summed."""
        if self.shared_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        registry.register(_Summed(self.shared_dir, self.instruments()))
        for collector in self.collectors:
            registry.register(collector)
        return generate_latest(registry)

    def worker_ended(self) -> None:
        """A worker that stops takes its live gauges with it (its counts stay in the sums)."""
        if self.shared_dir is not None:
            mark_process_dead(os.getpid(), self.shared_dir)

    def reconciliation_finished(self, outcome: str) -> None:
        self.reconciliation_runs.labels(outcome).inc()

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """One HTTP request answered: counted by route, method and status, and timed by route."""
        count, time = self._labelled(
            ("answered", route, method, status),
            lambda: (self.requests.labels(route, method, str(status)), self.request_seconds.labels(route)),
        )
        count.inc()
        time.observe(seconds)

    def event_accepted(self, event_type: str) -> None:
        (accepted,) = self._labelled(
            ("accepted", event_type), lambda: (self.events.labels(event_type, "accepted", ""),)
        )
        accepted.inc()

    def _labelled(self, key: tuple, children: Callable[[], tuple]) -> tuple:
        """The children of `key`'s labels, looked up once (the library's lookup takes a lock and checks
        every label); at most SERIES_REMEMBERED_MAX kept, the rest looked up each time."""
        found = self._series.get(key)
        if found is None:
            found = children()
            if len(self._series) < SERIES_REMEMBERED_MAX:
                self._series[key] = found
        return found

    def event_refused(self, event_type: str | None, reason: str) -> None:
        self.events.labels(event_type or "unknown", "refused", reason).inc()

    def produced(self, topic: str, seconds: float) -> None:
        (produce,) = self._labelled(("produced", topic), lambda: (self.produce_seconds.labels(topic),))
        produce.observe(seconds)


class _Summed(Collector):
    """Every worker's counts from the shared files, and (as with one process) every instrument declared here
    even before anything counted in it: its HELP and TYPE lines, no sample."""

    def __init__(self, shared_dir: str, instruments: list[MetricWrapperBase]) -> None:
        self.files, self.instruments = MultiProcessCollector(None, path=shared_dir), instruments

    def collect(self):
        summed = list(self.files.collect())
        names = {family.name for family in summed}
        declared = [family for instrument in self.instruments for family in instrument.describe()]
        return summed + [family for family in declared if family.name not in names]
