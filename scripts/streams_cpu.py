"""Stream-worker CPU per event: decode, and apply (state, rows, outbox), against a running stack's database.

    source <your stack's env> && .venv/bin/python scripts/streams_cpu.py --sales 500

Applies SALES sales of ITEMS_PER_SALE batteries each, then a collection of each
battery (5,000 collections for 500 sales), in batches of the streams' batch
size, with `apply_batch` as the stream worker calls it (no Kafka: the messages
are made here, on a partition numbered PARTITION so they never meet a real
partition's offsets). Repeats that ROUNDS times and prints, per kind of event,
the least and the median of the rounds (the least is the least disturbed by
other work on the machine). Process CPU (not wall time) in µs per event:
`decode` alone, then `apply` (what `apply_batch` costs beyond decoding), and
`database`: the CPU of the PostgreSQL backend serving the one connection used
(read from /proc: the stack must run on this machine). The relay and the
ledger then carry the postings as usual. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from services.common import db_roles
from services.common.db import create_pool
from services.common.settings import get_settings
from streams.service_layer.batch import Message, apply_batch, decode

ITEMS_PER_SALE = 10
PARTITION = 10_000  # no input topic has that many partitions: the offsets recorded here are apart
OFFSETS = itertools.count(int(time.time() * 1000) * 1000)  # a new run of offsets on every call


def envelope(event_type: str, kind: str, source_id: str, data: dict) -> bytes:
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": event_type,
            "version": 1,
            "occurred_at": datetime.now(UTC).isoformat(),
            "source": {"kind": kind, "id": source_id},
            "data": data,
        },
        separators=(",", ":"),
    ).encode()


def sales(run: str, count: int) -> list[Message]:
    return [
        Message(
            "takeback.sales",
            PARTITION,
            next(OFFSETS),
            f"{run}-S{i}".encode(),
            envelope(
                "sale.recorded",
                "pos",
                "store-cpu",
                {
                    "sale_id": f"{run}-S{i}",
                    "store_id": "store-cpu",
                    "currency": "EUR",
                    "items": [
                        {
                            "serial": f"{run}-{i}-{j}",
                            "sku": "EB-500",
                            "category": "lmt",
                            "chemistry": "li-ion-nmc",
                            "mass_kg": 2.8,
                            "deposit": 5000,
                            "recycling_fee": 800,
                            "contract": "deposit",
                        }
                        for j in range(ITEMS_PER_SALE)
                    ],
                },
            ),
        )
        for i in range(count)
    ]


def collections(run: str, count: int) -> list[Message]:
    serials = [f"{run}-{i}-{j}" for i in range(count) for j in range(ITEMS_PER_SALE)]
    return [
        Message(
            "takeback.collections",
            PARTITION,
            next(OFFSETS),
            s.encode(),
            envelope(
                "collection.logged",
                "return_centre",
                "centre-cpu",
                {
                    "collection_id": f"C-{s}",
                    "centre_id": "centre-cpu",
                    "serial": s,
                    "condition": "functional",
                },
            ),
        )
        for s in serials
    ]


def backend_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed(pool, messages: list[Message], batch: int) -> tuple[float, float, float]:
    """(decode, apply, database) CPU in µs per event."""
    backend = await pool.fetchval("SELECT pg_backend_pid()")
    now = datetime.now(UTC)
    started = time.process_time()
    for message in messages:
        decode(message, now)
    decode_s = time.process_time() - started
    started, database_started = time.process_time(), backend_cpu_s(backend)
    for first in range(0, len(messages), batch):
        outcome = await apply_batch(pool, messages[first : first + batch])
        assert not outcome.rejected, outcome.rejected
    total_s, database_s = time.process_time() - started, backend_cpu_s(backend) - database_started
    per = 1e6 / len(messages)
    return decode_s * per, (total_s - decode_s) * per, database_s * per


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sales", type=int, default=500, help="sales a round (and ten times as many collections)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the least and the median are shown")
    arguments = parser.parse_args()
    settings = get_settings()
    pool = await create_pool(settings.database_url_as(db_roles.STREAMS), max_size=1)  # one backend to measure
    figures: dict[str, list[tuple[float, float, float]]] = {"sales": [], "collections": []}
    try:
        for _ in range(arguments.rounds):
            run = f"cpu{uuid.uuid4().hex[:8]}"
            figures["sales"].append(await timed(pool, sales(run, arguments.sales), settings.batch_max_events))
            figures["collections"].append(
                await timed(pool, collections(run, arguments.sales), settings.batch_max_events)
            )
    finally:
        await pool.close()
    for name, rounds in figures.items():
        shown = [
            f"{part} {min(r[i] for r in rounds):7.1f} ({statistics.median(r[i] for r in rounds):7.1f})"
            for i, part in enumerate(("decode", "apply", "database"))
        ]
        print(f"{name:<12} µs/event, least (median) of {len(rounds)} rounds:  " + "  ".join(shown))


if __name__ == "__main__":
    asyncio.run(main())
