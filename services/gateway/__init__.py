"""The HTTP gateway: events in over HTTP (to the same topics as Kafka producers), reads for finance.

Layout: `domain` (keys and who may do what), `service_layer` (accept an event,
manage and verify keys, reads), `adapters` (PostgreSQL, Kafka, metrics sources),
`entrypoints` (FastAPI app, uvicorn server), `bootstrap.py` (wiring).
"""
