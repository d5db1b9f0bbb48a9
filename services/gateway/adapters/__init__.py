"""The gateway's ports to the world: PostgreSQL (keys, metrics), Kafka (events, lag)."""
