"""The ledger's ports to PostgreSQL, Kafka and Prometheus."""
