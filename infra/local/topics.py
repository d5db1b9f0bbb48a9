"""The contract's topics, created up front with their partitions and retention."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from contracts import topics
from contracts.limits import INPUT_TOPIC_MESSAGE_BYTES_MAX, OUTPUT_MESSAGE_BYTES_MAX

# Every topic is an event log that a replay reads from offset 0: none is compacted
# (compaction would drop earlier events of the same key, e.g. a sale's cancellation).
CLEANUP_POLICY = "delete"
MESSAGE_OVERHEAD_BYTES = 64 * 1024  # record batch headers around the largest value


def max_message_bytes(name: str) -> int:
    """Input topics take a little more than the contract's limit, so a value between the two gets a
    `too_large` rejection instead of a producer error; events out are bounded by what the relays send."""
    if name in topics.INPUT_TOPICS:
        return INPUT_TOPIC_MESSAGE_BYTES_MAX
    return OUTPUT_MESSAGE_BYTES_MAX + MESSAGE_OVERHEAD_BYTES


def topic_names() -> list[str]:
    return [*topics.INPUT_TOPICS, *topics.OUTPUT_TOPICS, *topics.INTERNAL_TOPICS]


async def ensure_topics(
    bootstrap: str,
    partitions: int,
    retention_ms: int,
    replication_factor: int = 1,
    min_insync_replicas: int = 1,
    options: dict | None = None,
) -> list[str]:
    """Create missing topics; return the names created. Existing ones are left as they are.

    On a cluster of three brokers: replication factor 3 and `min.insync.replicas` 2, so an
    event acknowledged with `acks=all` is on two brokers at least and writes go on with one down.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000, **(options or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=name,
                num_partitions=partitions,
                replication_factor=replication_factor,
                topic_configs={
                    "retention.ms": str(retention_ms),
                    "cleanup.policy": CLEANUP_POLICY,
                    "min.insync.replicas": str(min_insync_replicas),
                    "max.message.bytes": str(max_message_bytes(name)),
                },
            )
            for name in topic_names()
            if name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
        return [t.name for t in wanted]
    finally:
        await admin.close()


async def describe_cluster(bootstrap: str, options: dict | None = None) -> dict:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5_000, **(options or {}))
    await admin.start()
    try:
        return await admin.describe_cluster()
    finally:
        await admin.close()
