"""Hostile input cannot stop the money: too large, wrong topic, not UTF-8; refunds and postings still flow.

Contract 8.4: a value above 256 KiB is rejected `too_large`, and a rejection
carries at most 16 KiB of the original with its length and SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import time

from contracts import topics
from contracts.limits import MESSAGE_VALUE_BYTES_MAX, REJECTION_ORIGINAL_BYTES_MAX
from tests.conftest import envelope, send, unique
from tests.integration.scheme import Scheme, item

REFUND_WITHIN_S = 30.0  # generous on a loaded 2-core machine; the soak in test_hostile_soak measures it


def padded_sale(store: str, size: int) -> bytes:
    """A well-formed sale envelope padded with spaces to `size` bytes."""
    import json

    raw = json.dumps(
        envelope(
            "sale.recorded",
            "pos",
            store,
            {"sale_id": unique("S"), "store_id": store, "currency": "EUR", "items": [item(unique("BAT"))]},
        )
    ).encode()
    return raw + b" " * (size - len(raw))


def rejection_of(position: tuple[int, int]):
    return lambda v: (
        isinstance(v, dict)
        and v["data"]["topic"] == topics.SALES
        and (v["data"]["partition"], v["data"]["offset"]) == position
    )


async def test_a_value_above_the_limit_is_rejected_too_large_with_a_bounded_prefix(
    producer, pool, topic_reader
):
    scheme = Scheme(producer, pool)
    async with topic_reader(topics.REJECTIONS) as rejections:
        for size in (MESSAGE_VALUE_BYTES_MAX + 1, 1_000_000):
            raw = padded_sale(scheme.store, size)
            sent = await producer.send_and_wait(topics.SALES, raw, key=b"huge")
            rejected = (await rejections.find(rejection_of((sent.partition, sent.offset))))["data"]
            assert (rejected["reason"], rejected["rejected_event_id"]) == ("too_large", None)
            assert len(rejected["original"].encode()) <= REJECTION_ORIGINAL_BYTES_MAX
            assert raw.startswith(rejected["original"].encode())
            assert (
                rejected["original_bytes"],
                rejected["original_sha256"],
                rejected["original_truncated"],
            ) == (size, hashlib.sha256(raw).hexdigest(), True)


async def test_a_value_at_the_limit_is_read(producer, pool):
    scheme = Scheme(producer, pool)
    raw = padded_sale(scheme.store, MESSAGE_VALUE_BYTES_MAX)
    await producer.send_and_wait(topics.SALES, raw, key=b"limit")
    import json

    await scheme.applied(json.loads(raw))


async def test_a_binary_value_is_rejected_with_a_base64_prefix_that_fits(producer, topic_reader):
    raw = bytes(range(256)) * 100  # 25,600 bytes, not UTF-8
    async with topic_reader(topics.REJECTIONS) as rejections:
        sent = await producer.send_and_wait(topics.SALES, raw, key=b"bin")
        rejected = (await rejections.find(rejection_of((sent.partition, sent.offset))))["data"]
    assert rejected["reason"] == "invalid_json"
    assert len(rejected["original"]) <= REJECTION_ORIGINAL_BYTES_MAX
    assert raw.startswith(base64.b64decode(rejected["original"]))
    assert (rejected["original_bytes"], rejected["original_truncated"]) == (len(raw), True)


async def test_an_event_on_a_topic_that_does_not_carry_its_type_is_wrong_topic_and_can_be_sent_again(
    producer, pool
):
    scheme = Scheme(producer, pool)
    sale = envelope(
        "sale.recorded",
        "pos",
        scheme.store,
        {"sale_id": unique("S"), "store_id": scheme.store, "currency": "EUR", "items": [item(unique("BAT"))]},
    )
    async with _rejections_reader(producer) as rejections:
        await send(producer, topics.LOTS, sale["data"]["sale_id"], sale)
        rejected = (
            await rejections.find(
                lambda v: isinstance(v, dict) and v["data"]["rejected_event_id"] == sale["event_id"]
            )
        )["data"]
    assert (rejected["reason"], rejected["topic"]) == ("wrong_topic", topics.LOTS)
    await scheme.emit(sale)  # the same event, now on its topic
    await scheme.applied(sale)


async def test_refunds_and_postings_flow_after_hostile_messages(producer, pool, topic_reader):
    scheme = Scheme(producer, pool)
    for index in range(5):
        await producer.send_and_wait(topics.SALES, padded_sale(scheme.store, 1_000_000), key=b"huge")
        await producer.send_and_wait(topics.COLLECTIONS, b"\xff" * 1000 * (index + 1), key=b"junk")
    serial = unique("BAT")
    async with topic_reader(topics.REFUNDS) as refunds:
        await scheme.applied(await scheme.sale([item(serial)]))
        collected = await scheme.collect(serial)
        started = time.monotonic()
        refund = await refunds.find(
            lambda v: isinstance(v, dict) and v["data"]["serial"] == serial, timeout_s=REFUND_WITHIN_S
        )
    assert refund["data"]["caused_by"] == collected["event_id"]
    assert time.monotonic() - started < REFUND_WITHIN_S


def _rejections_reader(producer):
    from services.common.settings import get_settings
    from tests.conftest import TopicReader

    return TopicReader(get_settings().kafka_bootstrap, topics.REJECTIONS)
