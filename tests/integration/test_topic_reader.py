"""The tests' topic reader keeps every record of a fetch: a message that came in
the same fetch as an earlier match is still found by a later search."""

from __future__ import annotations

import json

from aiokafka import AIOKafkaProducer

from services.common.kafka import client_options
from tests.conftest import TopicReader
from tests.integration.test_outbox_batches import make_topic


async def test_a_second_find_sees_the_records_fetched_with_the_first_match(settings):
    topic = await make_topic(settings, 1)
    async with TopicReader(settings.kafka_bootstrap, topic) as reader:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, **client_options(settings))
        await producer.start()
        try:
            batch = producer.create_batch()
            for n in range(3):
                batch.append(key=None, value=json.dumps({"n": n}).encode(), timestamp=None)
            await (await producer.send_batch(batch, topic, partition=0))
        finally:
            await producer.stop()
        assert (await reader.find(lambda m: m["n"] == 0))["n"] == 0
        assert (await reader.find(lambda m: m["n"] == 2, timeout_s=2))["n"] == 2
        assert (await reader.find(lambda m: m["n"] == 1, timeout_s=2))["n"] == 1
