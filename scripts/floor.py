"""The floor: what issue 13's constraints cost an event before any of the scheme's own work.

    .venv/bin/takeback bench --batteries 20000      # first: the rows per event come from the stack's history
    .venv/bin/python scripts/floor.py --events 200000

On the running stack (the one the TAKEBACK_* environment names; the local one by default, whose Kafka
and PostgreSQL must run on this machine: their CPU is read from /proc), with the bench's own events (the
same mix of sales, collections, lot dispatches, receipts and recoveries, encoded and signed as
`takeback bench` does), it measures four parts, one after the other:

1. `produce`: the events sent as the bench sends them (acks=all, idempotent, signed), to a topic of their
   own (`takeback.bench.floor`, the input topics' partition count, deleted at the end). The values are
   encoded before the clock starts: this is the Kafka client's CPU alone, and the broker's.
2. `faust`: a faust worker reads them back and does nothing else. It is the stream workers' own app (its
   consumer, credentials and buffer settings, `streams.app.lean_app`) and their batching (`take_batches`),
   in a process of its own, its consumer group new, every event already in the log (so its batches are
   the largest the settings allow). Its process CPU (every thread) from its first batch to its last,
   and the broker's over the same span.
3. `aiokafka`: the same read by the Kafka client alone (no faust), in this process, for comparison.
4. `postgres`: the rows the safety properties of the issue require per event, and no others: the inbox row
   (exactly once, in the effects' transaction), each battery's state row and custody history rows
   (per-battery traceability), and the journal entries (one row an entry, lines as arrays). How many of
   each an event writes is read from the stack's own tables (rows over inbox rows: run a bench first).
   The rows of `--sample` events, read from those tables, are COPYed in one transaction into WAL-logged
   tables made `LIKE` each one `INCLUDING ALL` (keys, indexes, defaults, CHECK constraints), in a schema
   of its own dropped at the end. They carry none of the tables' triggers, foreign keys or rows already
   there, and no other table the scheme writes (facts, postings, outboxes, offsets): fewer rows than any
   design that keeps those properties can write. The CPU of every PostgreSQL process over the COPY.

The stack's services stay up but idle; each part's figure has the broker's and PostgreSQL's idle CPU over
the same span taken off (measured for `--idle-s` seconds first). Prints JSON: each part's CPU an event in
milliseconds, the floor (the sum of `produce`, `faust` and `postgres`) and the most events a second this
machine's cores allow at that floor. Each part is a lower bound of what the stack spends on it: the second
hop (the streams' postings to the ledger) and every row beyond those four tables are left out. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FLOOR_TOPIC = "takeback.bench.floor"
FLOOR_SCHEMA = "bench_floor"
# The tables whose rows the safety properties require, and what holds them to one event.
FLOOR_TABLES = ("scheme.inbox", "scheme.batteries", "scheme.custody_history", "ledger.entries")
PER_EVENT_BASE = "scheme.inbox"  # one row an event applied
MARK = '{"at": '  # how the agent's lines to this script begin


class Meter:
    """CPU of the broker and of PostgreSQL over a span, their idle rate over the same span taken off."""

    def __init__(self, settings, idle_s: float) -> None:
        self.settings = settings
        self.idle_rate = {"kafka": 0.0, "postgres": 0.0}
        before, started = self.read(), time.monotonic()
        time.sleep(idle_s)
        after, elapsed = self.read(), time.monotonic() - started
        self.idle_rate = {name: (after[name] - before[name]) / elapsed for name in after}

    def read(self) -> dict[str, float]:
        """CPU seconds so far of the broker and of PostgreSQL (its server and backends), as the bench reads
        them from the stack's run folder."""
        from services.bench.memory import TICKS_PER_S, cpu_ticks

        ticks = cpu_ticks(self.settings.state_dir / "run")
        missing = [name for name in ("kafka", "postgres") if name not in ticks]
        if missing:
            raise SystemExit(f"floor: no {', '.join(missing)} of the stack here (takeback up)")
        return {name: ticks[name] / TICKS_PER_S for name in ("kafka", "postgres")}

    def busy(self, before: dict[str, float], after: dict[str, float], span_s: float) -> dict[str, float]:
        return {name: max(0.0, after[name] - before[name] - self.idle_rate[name] * span_s) for name in after}


def bench_events(count: int) -> list[tuple[bytes, bytes]]:
    """`count` events of the bench's own lives, in its order (key, value)."""
    from services.bench import scenario

    names = scenario.Names(run=f"F{uuid.uuid4().hex[:8]}")
    batteries = range(0, max(scenario.BATTERIES_PER_LOT, int(count / 1.13) + scenario.BATTERIES_PER_LOT))
    events = []
    for _name, phase in scenario.PHASES:
        for _topic, key, make in phase(names, batteries):
            events.append((key.encode(), scenario.encode(make())))
    return events[:count]


async def produce(settings, meter: Meter, events: list[tuple[bytes, bytes]]) -> dict:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from services.common.kafka import client_options, events_producer

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **client_options(settings))
    await admin.start()
    try:
        if FLOOR_TOPIC in await admin.list_topics():
            await admin.delete_topics([FLOOR_TOPIC])
            await asyncio.sleep(2)
        await admin.create_topics(
            [NewTopic(FLOOR_TOPIC, settings.topic_partitions, 1, topic_configs={"retention.ms": "3600000"})]
        )
    finally:
        await admin.close()
    producer = events_producer(
        settings, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        stack, own, started = meter.read(), time.process_time(), time.monotonic()
        futures = [await producer.send(FLOOR_TOPIC, value, key=key) for key, value in events]
        await asyncio.gather(*futures)
        span, own = time.monotonic() - started, time.process_time() - own
        busy = meter.busy(stack, meter.read(), span)
    finally:
        await producer.stop()
    return part(len(events), span, {"producer": own, "kafka": busy["kafka"]})


def part(events: int, span_s: float, cpu: dict[str, float]) -> dict:
    return {
        "events": events,
        "seconds": round(span_s, 2),
        "events_per_second": round(events / span_s, 1),
        "cpu_seconds": {name: round(s, 3) for name, s in cpu.items()},
        "cpu_ms_per_event": round(sum(cpu.values()) * 1000 / events, 4),
    }


def faust(settings, meter: Meter, events: int) -> dict:
    """The faust agent in a process of its own; it says when its first batch came and when its last did."""
    group = f"takeback-floor-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, __file__, "agent", "--group", group, "--events", str(events)]
    agent = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        marks = {}
        assert agent.stdout is not None
        for line in agent.stdout:  # its marks, among whatever else faust prints there
            if not line.startswith(MARK):
                continue
            mark = json.loads(line)
            marks[mark["at"]] = (mark, meter.read(), time.monotonic())
            if mark["at"] == "last":
                break
        if agent.wait(timeout=60) != 0 or "last" not in marks:
            raise SystemExit(f"floor: the faust agent ended with {agent.returncode}")
    finally:
        if agent.poll() is None:
            agent.kill()
        shutil.rmtree(settings.state_dir / "faust" / group, ignore_errors=True)
    (first, stack_first, at_first), (last, stack_last, at_last) = marks["first"], marks["last"]
    span = at_last - at_first
    busy = meter.busy(stack_first, stack_last, span)
    counted = last["events"] - first["events"]  # the first batch's are read before the clock starts
    result = part(counted, span, {"worker": last["cpu_s"] - first["cpu_s"], "kafka": busy["kafka"]})
    result["batches"] = last["batches"] - first["batches"]
    return result


def agent(group: str, events: int) -> None:
    """A faust worker with the stream workers' app and batching whose agent applies nothing."""
    import mode.loop

    from services.common.settings import get_settings
    from streams.app import lean_app, take_batches

    mode.loop.use("uvloop")
    settings = get_settings()
    app = lean_app(settings, group)
    topic = app.topic(
        FLOOR_TOPIC, key_serializer="raw", value_serializer="raw", key_type=bytes, value_type=bytes
    )
    seen = {"events": 0, "batches": 0}

    def mark(at: str) -> None:
        line = json.dumps({"at": at, "cpu_s": time.process_time(), **seen}) + "\n"
        os.write(1, line.encode())  # faust's worker redirects `sys.stdout` to its log

    @app.agent(topic)
    async def nothing(stream):
        async for batch in take_batches(app, stream, settings):
            seen["events"] += len(batch)
            seen["batches"] += 1
            if seen["batches"] == 1:
                mark("first")
            if seen["events"] >= events:
                mark("last")
                os._exit(0)  # nothing to keep: a consumer group of its own, never read again

    # The workers' own log level: at `warn` faust's spinner sets the root logger to DEBUG, and every debug
    # line of the Kafka client is then made and dropped.
    sys.argv = [sys.argv[0], "worker", "--without-web", "--loglevel", settings.log_level]
    app.main()


async def aiokafka_alone(settings, meter: Meter, events: int) -> dict:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from services.common.kafka import client_options

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        group_id=None,
        max_poll_records=settings.batch_max_events,
        **client_options(settings),
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(FLOOR_TOPIC, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        stack, own, started = meter.read(), time.process_time(), time.monotonic()
        received = 0
        while received < events:
            batches = await consumer.getmany(timeout_ms=1000, max_records=settings.batch_max_events)
            received += sum(len(records) for records in batches.values())
        span, own = time.monotonic() - started, time.process_time() - own
        busy = meter.busy(stack, meter.read(), span)
    finally:
        await consumer.stop()
    return part(received, span, {"consumer": own, "kafka": busy["kafka"]})


async def postgres(settings, meter: Meter, sample: int) -> dict:
    import asyncpg

    connection = await asyncpg.connect(settings.database_owner_url)
    try:
        base = await connection.fetchval(f"SELECT count(*) FROM {PER_EVENT_BASE}")
        if base == 0:
            raise SystemExit(f"floor: {PER_EVENT_BASE} is empty: run takeback bench first")
        sample = min(sample, base)  # the rows of at most every event the stack holds
        counts = {table: await connection.fetchval(f"SELECT count(*) FROM {table}") for table in FLOOR_TABLES}
        rows = {table: max(1, round(counts[table] * sample / base)) for table in FLOOR_TABLES}
        data = {}
        for table in FLOOR_TABLES:
            columns = await connection.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 "
                "AND table_name = $2 AND is_generated = 'NEVER' ORDER BY ordinal_position",
                *table.split("."),
            )
            names = [row["column_name"] for row in columns]
            quoted = ", ".join(f'"{name}"' for name in names)
            buffer = io.BytesIO()
            await connection.copy_from_query(
                f"SELECT {quoted} FROM {table} LIMIT {rows[table]}", output=buffer, format="binary"
            )
            data[table] = (names, buffer.getvalue())
        await connection.execute(
            f"DROP SCHEMA IF EXISTS {FLOOR_SCHEMA} CASCADE; CREATE SCHEMA {FLOOR_SCHEMA}"
        )
        for table in FLOOR_TABLES:
            await connection.execute(
                f"CREATE TABLE {FLOOR_SCHEMA}.{table.replace('.', '_')} (LIKE {table} INCLUDING ALL)"
            )
        stack, started = meter.read(), time.monotonic()
        async with connection.transaction():
            for table, (names, copied) in data.items():
                await connection.copy_to_table(
                    table.replace(".", "_"),
                    schema_name=FLOOR_SCHEMA,
                    source=io.BytesIO(copied),
                    columns=names,
                    format="binary",
                )
        span = time.monotonic() - started
        busy = meter.busy(stack, meter.read(), span)
    finally:
        try:
            await connection.execute(f"DROP SCHEMA IF EXISTS {FLOOR_SCHEMA} CASCADE")
        finally:
            await connection.close()
    result = part(sample, span, {"postgres": busy["postgres"]})
    result["rows"] = {table: rows[table] for table in FLOOR_TABLES}
    result["rows_per_event"] = {table: round(counts[table] / base, 3) for table in FLOOR_TABLES}
    return result


async def drop_topic(settings) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    from services.common.kafka import client_options

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **client_options(settings))
    await admin.start()
    try:
        await admin.delete_topics([FLOOR_TOPIC])
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events produced and read back")
    parser.add_argument(
        "--sample", type=int, default=50_000, help="events whose rows are COPYed (at most as many as held)"
    )
    parser.add_argument("--idle-s", type=float, default=5.0, help="seconds of idle CPU measured first")
    sub = parser.add_subparsers(dest="command")
    inner = sub.add_parser("agent", help="(the faust worker the measure starts)")
    inner.add_argument("--group", required=True)
    inner.add_argument("--events", type=int, required=True)
    args = parser.parse_args()
    if args.command == "agent":
        agent(args.group, args.events)
        return

    from services.common.settings import get_settings

    settings = get_settings()
    events = bench_events(args.events)
    meter = Meter(settings, args.idle_s)
    results = {"produce": asyncio.run(produce(settings, meter, events))}
    try:
        results["faust"] = faust(settings, meter, len(events))
        results["aiokafka"] = asyncio.run(aiokafka_alone(settings, meter, len(events)))
    finally:
        asyncio.run(drop_topic(settings))
    results["postgres"] = asyncio.run(postgres(settings, meter, args.sample))
    floor_ms = sum(results[name]["cpu_ms_per_event"] for name in ("produce", "faust", "postgres"))
    cores = os.cpu_count() or 1
    results["floor_cpu_ms_per_event"] = round(floor_ms, 4)
    results["cores"] = cores
    results["most_events_per_second_at_the_floor"] = round(cores * 1000 / floor_ms, 1)
    results["idle_cpu_rate"] = {name: round(rate, 4) for name, rate in meter.idle_rate.items()}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
