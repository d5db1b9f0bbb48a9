"""How the relay sends a window, against a producer that records its record batches and fails on cue.

What the guarantees come to here: every row once, on its key's partition, in seq
order within the partition (so per key); a partition stops at the first batch
Kafka does not acknowledge, so the retry sends only what was not acknowledged and
in order; a batch the broker refuses is split and only the row it refuses alone
is parked.
"""

from __future__ import annotations

import asyncio
import uuid

from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from services.common.outbox import MAX_REQUEST_BYTES, Relay, Row
from services.common.outbox_tail import SEQ_HEADER

TOPIC = "takeback.test.sends"
PARTITIONS = 3
BATCH_BYTES = 400  # a few rows a batch: each partition gets several


class RecordingBatch:
    """The producer's record batch, remembering the seq header of each row it took."""

    def __init__(self) -> None:
        self.builder, self.seqs, self.keys = BatchBuilder(BATCH_BYTES, 0), [], []

    def append(self, *, timestamp, key, value, headers):
        if self.builder.append(timestamp=timestamp, key=key, value=value, headers=headers) is None:
            return None
        self.seqs.append(int(dict(headers)[SEQ_HEADER]))
        self.keys.append(key)
        return True

    def close(self) -> None:
        self.builder.close()


class Sequences:
    """The idempotent producer's sequence numbers: what the relay takes back after a refusal."""

    def __init__(self) -> None:
        self.taken_back: list[tuple[int, int]] = []

    def sequence_number(self, tp) -> int:
        return 1_000

    def increment_sequence_number(self, tp, increment: int) -> None:
        self.taken_back.append((tp.partition, increment))


class FakeProducer:
    def __init__(self, fail=lambda partition, seqs: None) -> None:
        self.fail, self.sent, self._txn_manager = fail, [], Sequences()

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    def create_batch(self) -> RecordingBatch:
        return RecordingBatch()

    async def send_batch(self, batch: RecordingBatch, topic: str, *, partition: int):
        future = asyncio.get_running_loop().create_future()
        error = self.fail(partition, batch.seqs)
        if error is None:
            self.sent.append((partition, batch.seqs, batch.keys))
            future.set_result(None)
        else:
            future.set_exception(error)
        return future


def rows(count: int = 60, big: dict[int, int] | None = None) -> list[Row]:
    keys = [f"battery-{i}" for i in range(10)]
    return [
        Row(seq, uuid.uuid4(), TOPIC, keys[seq % len(keys)], b"v" * (big or {}).get(seq, 60))
        for seq in range(1, count + 1)
    ]


def relay(producer: FakeProducer) -> Relay:
    return Relay(None, producer, "scheme", batch_max=5000, poll_s=0.05)


def sent_by_partition(producer: FakeProducer) -> dict[int, list[int]]:
    by_partition: dict[int, list[int]] = {}
    for partition, seqs, _ in producer.sent:
        by_partition.setdefault(partition, []).extend(seqs)
    return by_partition


def partition_of(key: str) -> int:
    partitions = list(range(PARTITIONS))
    return DefaultPartitioner()(key.encode(), partitions, partitions)


def assert_in_order_on_their_partitions(producer: FakeProducer, window: list[Row]) -> None:
    key_of = {row.seq: row.key for row in window}
    for partition, seqs in sent_by_partition(producer).items():
        assert seqs == sorted(seqs)
        assert all(partition_of(key_of[seq]) == partition for seq in seqs)


async def test_each_partition_gets_its_rows_in_seq_order_in_several_batches():
    producer, window = FakeProducer(), rows()
    sender = relay(producer)
    assert await sender._send(window) == {}
    assert sorted(seq for _, seqs, _ in producer.sent for seq in seqs) == [
        row.seq for row in window
    ]  # each once
    assert_in_order_on_their_partitions(producer, window)
    assert all(len([p for p, _, _ in producer.sent if p == partition]) > 1 for partition in range(PARTITIONS))
    assert sender._unrecorded == {row.seq for row in window}
    assert producer._txn_manager.taken_back == []


async def test_a_partition_stops_at_a_batch_kafka_did_not_take_and_the_retry_sends_only_the_rest_in_order():
    window, attempts = rows(), []

    def fail(partition: int, seqs: list[int]):
        attempts.append(partition)
        if partition == 1 and attempts.count(1) == 2:  # the partition's second batch, the first time
            return KafkaConnectionError("broker away")
        return None

    producer = FakeProducer(fail)
    sender = relay(producer)
    try:
        await sender._send(window)
        raise AssertionError("the relay must say the broker was away")
    except KafkaConnectionError:
        pass
    first = sent_by_partition(producer)
    assert len([p for p, _, _ in producer.sent if p == 1]) == 1  # nothing after the failed batch
    assert sender._unrecorded == {seq for seqs in first.values() for seq in seqs}

    producer.sent.clear()
    assert await sender._send(window) == {}
    again = sent_by_partition(producer)
    assert set(again) == {1}  # only what was not acknowledged
    assert first[1] + again[1] == sorted(row.seq for row in window if partition_of(row.key) == 1)
    assert sender._unrecorded == {row.seq for row in window}


async def test_a_batch_the_broker_refuses_is_split_and_only_the_row_it_refuses_alone_is_parked():
    window = rows()
    refused_seq = 25

    def fail(partition: int, seqs: list[int]):
        return MessageSizeTooLargeError() if refused_seq in seqs else None

    producer = FakeProducer(fail)
    sender = relay(producer)
    refused = await sender._send(window)
    assert list(refused) == [refused_seq] and "MessageSizeTooLarge" in refused[refused_seq]
    sent = sorted(seq for _, seqs, _ in producer.sent for seq in seqs)
    assert sent == [row.seq for row in window if row.seq != refused_seq]  # each once, the rest of the window
    assert_in_order_on_their_partitions(producer, window)
    taken_back = producer._txn_manager.taken_back
    assert taken_back[0][1] < -1 and taken_back[-1] == (partition_of(window[refused_seq - 1].key), -1)


async def test_a_message_too_large_for_any_request_is_refused_before_it_joins_a_batch():
    window = rows(big={7: MAX_REQUEST_BYTES})
    producer = FakeProducer()
    refused = await relay(producer)._send(window)
    assert (
        list(refused) == [7] and "MessageSizeTooLargeError" in refused[7] and "max_request_size" in refused[7]
    )
    assert sorted(seq for _, seqs, _ in producer.sent for seq in seqs) == [
        row.seq for row in window if row.seq != 7
    ]
    assert producer._txn_manager.taken_back == []  # the broker never saw it
