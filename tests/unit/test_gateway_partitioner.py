"""The gateway's producer picks an event's partition as every other producer of the scheme does (Kafka's
default partitioner: murmur2 of the key): the same key, the same partition, so a battery's events stay in
order whichever producer wrote them."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as kafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.adapters.event_publisher import key_partitioner, murmur2

# Kafka's own test vectors (the Java client's UtilsTest.testMurmur2, as signed 32-bit integers).
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_the_hash_of_kafkas_own_vectors():
    for key, signed in JAVA_VECTORS.items():
        assert murmur2(key) == signed & 0xFFFFFFFF, key


@settings(max_examples=2000)
@given(st.binary(max_size=600))
def test_the_same_hash_as_the_kafka_clients_for_any_key(key):
    assert murmur2(key) == kafka_murmur2(key)


@given(st.binary(min_size=1, max_size=300), st.integers(min_value=1, max_value=64))
def test_the_same_partition_as_the_default_partitioner(key, count):
    partitions = list(range(count))
    assert key_partitioner(key, partitions, partitions[:1]) == DefaultPartitioner()(
        key, partitions, partitions
    )
