"""The relays' partitioner puts every key where Kafka's default partitioner puts it.

Consumers and the other producers rely on that placement (a battery's events in
one partition), so the fast partitioner is compared with the client's own
DefaultPartitioner on many random keys, of every length and partition count.
"""

from __future__ import annotations

import random
import uuid

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.partitioner import murmur2, partition_indexes

DEFAULT = DefaultPartitioner()


def expected(keys: list[bytes], count: int) -> list[int]:
    partitions = list(range(count))
    return [DEFAULT(key, partitions, partitions) for key in keys]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 12, 16, 31, 64, 100, 256])
def test_random_keys_of_mixed_lengths_land_where_the_default_partitioner_puts_them(count):
    rng = random.Random(count)
    keys = [rng.randbytes(rng.randint(0, 80)) for _ in range(4000)]
    assert partition_indexes(keys, count) == expected(keys, count)


@pytest.mark.parametrize("count", [1, 3, 4, 12])
def test_keys_of_one_shape_land_where_the_default_partitioner_puts_them(count):
    rng = random.Random(1000 + count)
    ids = [str(uuid.UUID(int=rng.getrandbits(128))).encode() for _ in range(20_000)]
    serials = [f"BAT-{rng.randrange(10**9):09d}".encode() for _ in range(20_000)]
    assert partition_indexes(ids, count) == expected(ids, count)
    assert partition_indexes(serials, count) == expected(serials, count)


def test_murmur2_of_every_short_length_and_edge_bytes_is_kafkas():
    rng = random.Random(7)
    keys = [b"", b"\x00", b"\xff" * 9, b"\x80\x7f\x00\xff", "clé-é-日本".encode()]
    keys += [rng.randbytes(length) for length in range(0, 70) for _ in range(20)]
    for key in keys:
        assert murmur2(key) == reference_murmur2(key), key


def test_a_key_alone_and_no_key_at_all():
    assert partition_indexes([], 4) == []
    assert partition_indexes([b"k"], 6) == expected([b"k"], 6)


def test_a_topic_without_partitions_is_refused_with_the_rule():
    with pytest.raises(ValueError, match="partition_count must be at least 1"):
        partition_indexes([b"k"], 0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=50), st.integers(min_value=1, max_value=1000))
def test_any_keys_and_partition_count(keys, count):
    assert partition_indexes(keys, count) == expected(keys, count)
