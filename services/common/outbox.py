"""Transactional outbox: rows written with the state change, published by a relay.

Each row records the transaction that wrote it (`txid`). The relay publishes in
windows of transactions (revision 0007): the rows of the transactions visible in
the window's snapshot and not in the last done snapshot, in `seq` order. It
produces them with an idempotent producer (acks=all) in record batches, one per
partition at a time (the partition Kafka's default partitioner gives the key,
services.common.partitioner), waits for every acknowledgement, then moves its one
cursor row on; no outbox row is ever
updated. A transaction still running when a window is taken falls in a later
window, so nothing is skipped. A crash between produce and cursor re-publishes
the same event ids: consumers deduplicate on event_id, as the contract asks of
everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition, errors
from aiokafka.errors import KafkaError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from contracts.limits import OUTPUT_MESSAGE_BYTES_MAX
from services.common.logging import get_logger
from services.common.one_statement import OneStatement
from services.common.outbox_tail import SEQ_HEADER, OutboxTail
from services.common.partitioner import partition_indexes
from services.common.retry import TRANSIENT_ERRORS

log = get_logger(__name__)
IDLE_WAIT_MAX_S = 0.5
# An outbox row `o` the relay has not sent yet, by its cursor `r`: not in the done snapshot, nor in the
# part of the window already sent. Shared by the relay's takeover and backlog and by the health report.
UNSENT = """o.txid >= pg_snapshot_xmin(r.done_snapshot)
    AND NOT pg_visible_in_snapshot(o.txid, r.done_snapshot)
    AND NOT (r.window_snapshot IS NOT NULL AND pg_visible_in_snapshot(o.txid, r.window_snapshot)
             AND o.seq <= r.after_seq)"""
PRUNE_CHUNK_ROWS = 10_000  # what one call of prune_outbox deletes at most (revision 0009)


@dataclass(frozen=True)
class OutboxMessage:
    event_id: object  # uuid.UUID
    topic: str
    key: str
    value: bytes


async def write(connection: asyncpg.Connection, schema: str, messages: list[OutboxMessage]) -> int:
    """Insert in the caller's transaction; an event id seen before is skipped (replays). The rows
    inserted."""
    statement = OneStatement()
    write_into(statement, schema, messages)
    counts = await statement.run(connection)
    return counts[0] if counts else 0


def write_into(statement: OneStatement, schema: str, messages: list[OutboxMessage]) -> None:
    """The messages as one write of a statement that may send several; an event id seen before is
    skipped (counted: the rows it inserted)."""
    if messages:
        statement.add(
            f"""INSERT INTO {schema}.outbox (event_id, topic, key, value)
                SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[])
                ON CONFLICT (event_id) DO NOTHING RETURNING 1""",
            [m.event_id for m in messages],
            [m.topic for m in messages],
            [m.key for m in messages],
            [m.value for m in messages],
            counted=True,
        )


async def write_new(connection: asyncpg.Connection, schema: str, messages: list[OutboxMessage]) -> int:
    """Insert messages whose ids cannot have been written before (binary COPY, no conflict check).

    For events whose id derives from something this same transaction creates for
    the first time (the ledger's `entry.posted` of a new entry); anything else
    uses `write`, which skips an id seen before.
    """
    if not messages:
        return 0
    await connection.copy_records_to_table(
        "outbox",
        schema_name=schema,
        columns=["event_id", "topic", "key", "value"],
        records=[(m.event_id, m.topic, m.key, m.value) for m in messages],
    )
    return len(messages)


async def notify_written(connection: asyncpg.Connection, channel: str) -> None:
    """At this transaction's commit, wake the relay that listens on `channel` (its `wake_channel`)."""
    await connection.execute("SELECT pg_notify($1, '')", channel)


def create_producer(bootstrap: str, options: dict | None = None) -> AIOKafkaProducer:
    """The relays' producer; `options` are the client's credentials (services.common.kafka.client_options)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        **(options or {}),
        linger_ms=5,
        max_batch_size=512 * 1024,
        compression_type=None,
        max_request_size=MAX_REQUEST_BYTES,
    )


# What the broker or the producer says of one message that no retry will change: it is parked.
PERMANENT_SEND_ERRORS = (
    errors.MessageSizeTooLargeError,
    errors.RecordTooLargeError,
    errors.RecordListTooLargeError,
    errors.CorruptRecordException,
    errors.InvalidTimestampError,
    errors.PolicyViolationError,
)
REQUEST_OVERHEAD_BYTES = 64 * 1024  # record batch and request headers around the largest event out
MAX_REQUEST_BYTES = OUTPUT_MESSAGE_BYTES_MAX + REQUEST_OVERHEAD_BYTES  # the largest message a relay sends
RETRY_WAIT_S = 1.0
PRUNE_EVERY_S = 60.0


CUSTOM_PLANS = "SET plan_cache_mode = force_custom_plan"  # each slice planned for its own bounds


class Cursor(NamedTuple):
    """Where the relay is (`{schema}.outbox_relay`): the snapshot of every transaction sent, the window
    being sent when one is partly sent, and the last seq of it sent."""

    done: str
    window: str | None
    after_seq: int


class Row(NamedTuple):
    """An outbox row as the relay reads it (a tuple: made for every row of every window, four times
    faster)."""

    seq: int
    event_id: object
    topic: str
    key: str
    value: bytes


class Relay:
    """Publishes one schema's outbox; run exactly one per schema (it keeps order).

    One message that the broker will not take (too large, refused) is parked with
    its reason and the rest of the window goes on: a message too large for any
    request is refused before it joins a record batch; the rows of a batch the
    broker refuses (a topic's own limit or policy) are sent again one by one, and
    the one it refuses alone is parked with the broker's reason. When the broker
    is away, the rows it acknowledged are remembered and the retry sends only the
    others.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        schema: str,
        batch_max: int,
        poll_s: float,
        retention_s: float | None = None,
        tail: OutboxTail | None = None,
        wake_channel: str | None = None,
    ):
        self.pool, self.producer, self.schema, self.tail = pool, producer, schema, tail
        # A notification channel every transaction that writes this outbox notifies at commit: the relay
        # listens on its lock's session and wakes on each one, so it needs no quick poll (IDLE_WAIT_MAX_S
        # between looks, for a notification lost with a connection). None: it looks every `poll_s`.
        self.wake_channel = wake_channel
        self.batch_max, self.poll_s, self.retention_s = batch_max, poll_s, retention_s
        self.published = 0
        self.parked = 0
        self._wake = asyncio.Event()
        self._unrecorded: set[int] = set()  # seqs Kafka acknowledged that the cursor does not cover yet
        self._pruned_at = 0.0
        # A window's rows: written by the transactions visible in the window's snapshot and not in the done
        # one. Its first slice is found by the transaction ids' index from the done snapshot's xmin (the rows
        # of a window may have any seq), in the statement that takes the window's snapshot; the next ones in
        # the primary key's order from where the last one ended (a txid bound, which only serves the index,
        # would lead the planner to read and sort what is left of the window every time). Both are planned
        # for their own bounds (`CUSTOM_PLANS`: a plan made once for any bounds reads the whole outbox).
        not_done = "NOT pg_visible_in_snapshot(txid, $1::text::pg_snapshot)"
        self._first_slice = f"""
            WITH w AS MATERIALIZED (SELECT pg_current_snapshot() AS snapshot)
            SELECT w.snapshot::text AS window, o.seq, o.event_id, o.topic, o.key, o.value
              FROM w LEFT JOIN LATERAL (
                   SELECT seq, event_id, topic, key, value FROM {schema}.outbox
                    WHERE txid >= pg_snapshot_xmin($1::text::pg_snapshot)
                      AND pg_visible_in_snapshot(txid, w.snapshot) AND {not_done}
                    ORDER BY seq LIMIT $2) o ON true
             ORDER BY o.seq"""
        self._next_slice = f"""
            SELECT seq, event_id, topic, key, value FROM {schema}.outbox
             WHERE seq > $3 AND pg_visible_in_snapshot(txid, $2::text::pg_snapshot) AND {not_done}
             ORDER BY seq LIMIT $4"""

    def wake(self) -> None:
        self._wake.set()

    async def run_forever(self) -> None:
        """Publish while holding the schema's advisory lock: one relay at a time keeps order."""
        while True:
            try:
                async with self.pool.acquire() as holder:
                    if await holder.fetchval(
                        "SELECT pg_try_advisory_lock(hashtext($1))", f"outbox:{self.schema}"
                    ):
                        await self._take_over()
                        await self._listening(holder)
            except (asyncpg.PostgresError, *TRANSIENT_ERRORS) as error:
                log.warning("outbox_relay_lost_database", schema=self.schema, error=str(error))
            except Exception as error:  # the relay must outlive anything; what it did not mark it sends again
                log.error("outbox_relay_failed", schema=self.schema, error=repr(error))
            await asyncio.sleep(RETRY_WAIT_S)

    async def _take_over(self) -> None:
        """Rows a relay that died had sent, but not recorded, are found in Kafka and not sent again."""
        if self.tail is None:
            return
        rows = await self.pool.fetch(
            f"""
            SELECT o.seq, o.topic FROM {self.schema}.outbox o, {self.schema}.outbox_relay r
             WHERE {UNSENT} ORDER BY o.seq LIMIT $1""",
            self.batch_max,
        )
        try:
            found = await self.tail.already_sent({row["topic"] for row in rows}, {row["seq"] for row in rows})
        except Exception as error:  # Kafka is away: what was in flight may be sent again (at least once)
            log.warning("outbox_relay_takeover_unread", schema=self.schema, error=repr(error))
            return
        self._unrecorded |= found
        log.info("outbox_relay_took_over", schema=self.schema, unsent=len(rows), already_sent=len(found))

    async def _listening(self, holder: asyncpg.Connection) -> None:
        """The publish loop, woken by each notification on `wake_channel` (heard on the lock's session)."""
        if self.wake_channel is None:
            return await self._publish_loop(holder)

        def woken(*_notification: object) -> None:
            self._wake.set()

        await holder.add_listener(self.wake_channel, woken)
        try:
            await self._publish_loop(holder)
        finally:
            with contextlib.suppress(Exception):  # a session lost or ending: nothing more to hear on it
                await holder.remove_listener(self.wake_channel, woken)

    async def _publish_loop(self, holder: asyncpg.Connection) -> None:
        """Publish while the lock's session lives; a lost session ends the loop (and the lock).

        Every look runs on the lock's session, so each one also finds the session still there (or raises),
        and the relay keeps its cursor between looks (it alone writes it while it holds the lock): a look
        is one round trip, and a window sent one more.

        Woken by notifications, a wake that comes while a window is read or sent is kept (it may be for a
        transaction that committed after the window's snapshot): the next look starts at once. Polling, a
        wake that comes meanwhile is dropped, as the next look is at most `poll_s` away."""
        listening = self.wake_channel is not None
        idle_wait_s = IDLE_WAIT_MAX_S if listening else min(self.poll_s, IDLE_WAIT_MAX_S)
        cursor = await self._begin_session(holder)
        while not holder.is_closed():
            if listening:
                self._wake.clear()
            try:
                sent, cursor = await self._publish(holder, cursor)
                await self._prune_when_due()
            except (TimeoutError, OSError, asyncpg.PostgresError, KafkaError) as error:  # broker or db away
                log.warning("outbox_relay_retry", schema=self.schema, error=str(error))
                sent = 0
                await asyncio.sleep(RETRY_WAIT_S)
            if sent < self.batch_max:
                if not listening:
                    self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=idle_wait_s)
                except TimeoutError:
                    pass

    async def publish_once(self) -> int:
        """One look, and the send of what it found, on a connection of the pool (the cursor read first)."""
        async with self.pool.acquire() as connection:
            sent, _ = await self._publish(connection, await self._begin_session(connection))
        return sent

    async def _begin_session(self, connection: asyncpg.Connection) -> Cursor:
        """Slices planned for their own bounds on this session (the pool's reset query undoes it), and the
        cursor as the database holds it."""
        await connection.execute(CUSTOM_PLANS)
        sql = f"SELECT done_snapshot::text, window_snapshot::text, after_seq FROM {self.schema}.outbox_relay"
        return Cursor(*await connection.fetchrow(sql))

    async def _publish(self, connection: asyncpg.Connection, cursor: Cursor) -> tuple[int, Cursor]:
        """Send the next slice of the window (of a new one when none is open); the rows it read and the
        cursor as it left it."""
        done, window, after_seq = cursor
        if window is None:  # a new window: every transaction that has ended by now
            found = await connection.fetch(self._first_slice, done, self.batch_max)
            window = found[0]["window"]
            rows = [Row(*r[1:]) for r in found if r["seq"] is not None]
        else:
            rows = [
                Row(*r)
                for r in await connection.fetch(self._next_slice, done, window, after_seq, self.batch_max)
            ]
        if not rows:
            if after_seq:  # the window was partly sent before: it is done now
                return 0, await self._move_cursor(connection, Cursor(window, None, 0))
            return 0, cursor  # an empty window moves nothing (no write while idle)
        refused = await self._send(rows)
        await self._park(connection, refused)
        if len(rows) < self.batch_max:  # the window is sent
            moved = await self._move_cursor(connection, Cursor(window, None, 0))
        else:  # more in this window: remember how far
            moved = await self._move_cursor(connection, Cursor(done, window, rows[-1].seq))
        self._unrecorded.clear()
        self.published += len(rows) - len(refused)
        return len(rows), moved

    async def _send(self, rows: list[Row]) -> dict[int, str]:
        """Send what Kafka has not acknowledged yet; return the refused rows' reasons; raise if the broker
        is away.

        The rows go by (topic, partition), the partition Kafka's default partitioner gives their key, in
        record batches of the producer's batch size, one future each. The batches of one partition go one
        after the other, each once the one before is acknowledged: a batch the broker does not take stops its
        partition there, so what Kafka holds of each partition is a prefix in `seq` order. On a retry (the
        broker or the database was away) only the rows not acknowledged before are sent again.
        """
        acknowledged = self._unrecorded
        refused: dict[int, str] = {}
        groups = await self._by_partition([row for row in rows if row.seq not in acknowledged])
        outcomes = await asyncio.gather(
            *(
                self._send_partition(topic, partition, group, refused)
                for (topic, partition), group in groups.items()
            )
        )
        away = next((outcome for outcome in outcomes if outcome is not None), None)
        if away is not None:  # the broker is away: the caller waits and retries the others
            raise away
        return refused

    async def _by_partition(self, rows: list[Row]) -> dict[tuple[str, int], list[tuple[Row, bytes]]]:
        """Rows (with their key's bytes) by the partition Kafka's default partitioner gives their key, in
        order."""
        by_topic: dict[str, list[Row]] = {}
        for row in rows:
            by_topic.setdefault(row.topic, []).append(row)
        groups: dict[tuple[str, int], list[tuple[Row, bytes]]] = {}
        for topic, topic_rows in by_topic.items():
            partitions = sorted(await self.producer.partitions_for(topic))
            keys = [row.key.encode() for row in topic_rows]
            for row, key, index in zip(topic_rows, keys, partition_indexes(keys, len(partitions))):
                groups.setdefault((topic, partitions[index]), []).append((row, key))
        return groups

    async def _send_partition(
        self, topic: str, partition: int, rows: list[tuple[Row, bytes]], refused: dict[int, str]
    ) -> Exception | None:
        """One partition's rows, batch after batch; the error that stopped it when the broker is away.

        A batch the broker refuses is not written at all: its rows are sent again one by one, in order, so
        only the row the broker refuses alone is parked, and the rest of the partition keeps its order.
        """
        acknowledged = self._unrecorded
        pending = deque(self._batches(rows, refused))
        while pending:
            batch, members = pending.popleft()
            try:
                future = await self.producer.send_batch(batch, topic, partition=partition)
            except Exception as error:  # noqa: BLE001 - the producer is closed or full: retried later
                return error
            try:
                await future
            except PERMANENT_SEND_ERRORS as error:  # the broker refused the batch: none of it was written
                _forget_refused_batch(self.producer, TopicPartition(topic, partition), len(members))
                if len(members) > 1:
                    pending.extendleft(reversed(self._batches(members, refused, alone=True)))
                else:
                    refused[members[0][0].seq] = _reason(error)
            except Exception as error:  # noqa: BLE001 - anything else: this partition stops here, retried later
                return error
            else:
                acknowledged.update(row.seq for row, _ in members)
        return None

    def _batches(
        self, rows: list[tuple[Row, bytes]], refused: dict[int, str], alone: bool = False
    ) -> list[tuple[object, list[tuple[Row, bytes]]]]:
        """Closed record batches of the rows (one row each if `alone`), in order, each with its rows.

        A row too large for any request is refused here, with the producer's own words, and joins no batch.
        """
        batches: list[tuple[object, list[tuple[Row, bytes]]]] = []
        batch, members = None, []
        for row, key in rows:
            headers = [(SEQ_HEADER, str(row.seq).encode())]
            size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, row.value, headers)
            if size > MAX_REQUEST_BYTES:  # what the producer says of it; the broker would refuse it
                refused[row.seq] = _reason(
                    errors.MessageSizeTooLargeError(
                        f"The message is {size} bytes when serialized which is larger than the maximum "
                        f"request size you have configured with the max_request_size configuration"
                    )
                )
                continue
            if (
                alone
                or batch is None
                or batch.append(timestamp=None, key=key, value=row.value, headers=headers) is None
            ):
                if batch is not None:
                    batch.close()
                batch, members = self.producer.create_batch(), []
                batches.append((batch, members))
                if batch.append(timestamp=None, key=key, value=row.value, headers=headers) is None:
                    raise AssertionError("an empty record batch takes any message of an allowed size")
            members.append((row, key))
        if batch is not None:
            batch.close()  # sent at once, no linger
        return batches

    async def _park(self, connection: asyncpg.Connection, refused: dict[int, str]) -> None:
        """Rows the broker will not take: recorded with their reason (the relay goes on) and counted."""
        if not refused:
            return
        await connection.execute(
            f"""INSERT INTO {self.schema}.outbox_parked (seq, event_id, topic, key, value_bytes, reason)
                SELECT o.seq, o.event_id, o.topic, left(o.key, 256), octet_length(o.value), r.reason
                  FROM unnest($1::bigint[], $2::text[]) AS r(seq, reason)
                  JOIN {self.schema}.outbox o USING (seq)
                ON CONFLICT (seq) DO NOTHING""",
            list(refused),
            list(refused.values()),
        )
        self.parked += len(refused)
        for seq, reason in refused.items():
            log.error("outbox_message_parked", schema=self.schema, seq=seq, reason=reason)

    async def _prune_when_due(self) -> None:
        """Sent rows older than the retention go, a bounded chunk at a time (never a parked one)."""
        if self.retention_s is None or time.monotonic() - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = time.monotonic()
        deleted = await self.pool.fetchval(
            f"SELECT {self.schema}.prune_outbox(make_interval(secs => $1))", float(self.retention_s)
        )
        if deleted:
            log.info("outbox_pruned", schema=self.schema, rows=deleted)
            self._pruned_at = 0.0 if deleted >= PRUNE_CHUNK_ROWS else self._pruned_at

    async def backlog(self) -> int:
        """Rows not published yet: not in the done snapshot, nor in the part of the window already sent."""
        return await self.pool.fetchval(
            f"SELECT count(*) FROM {self.schema}.outbox o, {self.schema}.outbox_relay r WHERE {UNSENT}"
        )

    async def _move_cursor(self, connection: asyncpg.Connection, cursor: Cursor) -> Cursor:
        await connection.execute(
            f"""UPDATE {self.schema}.outbox_relay
                   SET done_snapshot = $1::text::pg_snapshot, window_snapshot = $2::text::pg_snapshot,
                       after_seq = $3, updated_at = now()""",
            *cursor,
        )
        return cursor


def _forget_refused_batch(producer: AIOKafkaProducer, tp: TopicPartition, records: int) -> None:
    """The idempotent producer gave the refused batch sequence numbers the broker never took: take them back.

    Else its next batch to the partition is out of sequence for the broker, and the producer stops for good
    (no relay could send anything after one refused message). Right only because the relay's producer is its
    own and a partition has one batch in flight at a time, so the refused batch was the partition's last.
    """
    manager = getattr(producer, "_txn_manager", None)
    if manager is None or manager.sequence_number(tp) < records:  # no idempotence; or the sequence wrapped
        return
    manager.increment_sequence_number(tp, -records)


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]
