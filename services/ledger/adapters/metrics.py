"""Prometheus metrics of the ledger worker, served on /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

POSTINGS = Counter(
    "takeback_ledger_postings_total",
    "Posting messages read, by outcome.",
    ["outcome"],
)  # outcome: posted | repeated | unpostable
UNPOSTABLE = Counter(
    "takeback_ledger_unpostable_total",
    "Posting messages refused and stored in ledger.unpostable.",
    ["reason"],
)
BATCH_SECONDS = Histogram(
    "takeback_ledger_batch_seconds",
    "Time to post one batch in one transaction.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_SIZE = Histogram(
    "takeback_ledger_batch_messages",
    "Messages per batch.",
    buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000),
)
BATCH_RETRIES = Counter(
    "takeback_ledger_batch_retries_total", "Batches retried after a database or Kafka error."
)
RECONCILIATION_RUNS = Counter(
    "takeback_ledger_reconciliation_runs_total",
    "Reconciliation runs, by status.",
    ["status"],
)
RECONCILIATION_FAILED_CHECKS = Gauge(
    "takeback_ledger_reconciliation_failed_checks",
    "Checks that failed in the last reconciliation run.",
)
RECONCILIATION_SECONDS = Histogram(
    "takeback_ledger_reconciliation_seconds",
    "Time of one reconciliation run.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
