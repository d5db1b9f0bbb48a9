"""The ledger: an append-only double-entry journal, its balances, reconciliation and finance reports.

domain/         pure rules: entries that balance, targets and tables of the regulation
service_layer/  use cases: post a batch, balances, reconcile, reports
adapters/       PostgreSQL, Kafka, metrics, events out
entrypoints/    the posting worker
bootstrap.py    wires the clients at start-up
"""
