"""The contract's topics, created up front with their partitions and retention."""
from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from contracts import topics

# Every topic is an event log that a replay reads from offset 0: none is compacted
# (compaction would drop earlier events of the same key, e.g. a sale's cancellation).
CLEANUP_POLICY = "delete"


def topic_names() -> list[str]:
    return [*topics.INPUT_TOPICS, *topics.OUTPUT_TOPICS, *topics.INTERNAL_TOPICS]


async def ensure_topics(bootstrap: str, partitions: int, retention_ms: int) -> list[str]:
    """Create missing topics; return the names created. Existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=name, num_partitions=partitions, replication_factor=1,
                topic_configs={
                    "retention.ms": str(retention_ms),
                    "cleanup.policy": CLEANUP_POLICY,
                    "min.insync.replicas": "1",
                },
            )
            for name in topic_names() if name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
        return [t.name for t in wanted]
    finally:
        await admin.close()


async def describe_cluster(bootstrap: str) -> dict:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5_000)
    await admin.start()
    try:
        return await admin.describe_cluster()
    finally:
        await admin.close()
