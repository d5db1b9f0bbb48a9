"""The gateway's own Prometheus instruments, on a registry of its own (plus the scheme's figures)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "takeback_gateway_http_requests_total", "HTTP requests answered, by route template and status",
            ["route", "method", "status"], registry=self.registry)
        self.request_seconds = Histogram(
            "takeback_gateway_http_request_seconds", "Time to answer an HTTP request", ["route"],
            buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.events = Counter(
            "takeback_gateway_events_total", "Events offered over HTTP: accepted, or refused with the reason",
            ["type", "outcome", "reason"], registry=self.registry)
        self.produce_seconds = Histogram(
            "takeback_gateway_produce_seconds", "Time for Kafka to acknowledge an event (acks=all)", ["topic"],
            buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.scrape_errors = Counter(
            "takeback_gateway_scrape_errors_total", "Scheme figures that could not be read at scrape time",
            ["source"], registry=self.registry)
        self.rate_limited = Counter(
            "takeback_gateway_rate_limited_total", "Requests refused 429, by limit: `key` (requests per key) or "
            "`address` (failed authentications per client address)", ["kind"], registry=self.registry)
        self.rate_limit_buckets = Gauge(
            "takeback_gateway_rate_limit_buckets", "Token buckets held (bounded), by limit", ["kind"],
            registry=self.registry)
        self.reconciliation_runs = Counter(
            "takeback_gateway_reconciliation_runs_total", "Reconciliation runs made on request, by outcome",
            ["outcome"], registry=self.registry)

    def limited(self, kind: str) -> None:
        self.rate_limited.labels(kind).inc()

    def watch(self, limits) -> None:
        """The rate limiter's table sizes, read at scrape time."""
        self.rate_limit_buckets.labels("key").set_function(lambda: len(limits.keys))
        self.rate_limit_buckets.labels("address").set_function(lambda: len(limits.failures))

    def reconciliation_finished(self, outcome: str) -> None:
        self.reconciliation_runs.labels(outcome).inc()

    def event_accepted(self, event_type: str) -> None:
        self.events.labels(event_type, "accepted", "").inc()

    def event_refused(self, event_type: str | None, reason: str) -> None:
        self.events.labels(event_type or "unknown", "refused", reason).inc()

    def produced(self, topic: str, seconds: float) -> None:
        self.produce_seconds.labels(topic).observe(seconds)
