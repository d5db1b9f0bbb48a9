"""Stream-worker CPU per event: decode, and apply (state, rows, outbox), against a running stack's database.

    source <your stack's env> && .venv/bin/python scripts/streams_cpu.py --sales 500

Applies SALES sales of ITEMS_PER_SALE batteries each, then a collection of each
battery (5,000 collections for 500 sales), in batches of the streams' batch
size, with `apply_batch` as the stream worker calls it (no Kafka: the messages
are made here, under partitions numbered from PARTITION_FIRST so they never meet
a real partition's offsets). Prints process CPU (not wall time) in µs per event:
`decode` alone, then `apply` (what `apply_batch` costs beyond decoding).
The relay and the ledger then carry the postings as usual. Not a test.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import datetime, timezone

from services.common import db_roles
from services.common.db import create_pool
from services.common.settings import get_settings
from streams.service_layer.batch import Message, apply_batch, decode

ITEMS_PER_SALE = 10
PARTITION_FIRST = 10_000  # no input topic has that many partitions: the offsets recorded here are apart


def envelope(event_type: str, kind: str, source_id: str, data: dict) -> bytes:
    return json.dumps({"event_id": str(uuid.uuid4()), "type": event_type, "version": 1,
                       "occurred_at": datetime.now(timezone.utc).isoformat(),
                       "source": {"kind": kind, "id": source_id}, "data": data}, separators=(",", ":")).encode()


def sales(run: str, count: int) -> list[Message]:
    return [Message("takeback.sales", PARTITION_FIRST, i, f"{run}-S{i}".encode(), envelope(
        "sale.recorded", "pos", "store-cpu", {"sale_id": f"{run}-S{i}", "store_id": "store-cpu", "currency": "EUR",
                                              "items": [{"serial": f"{run}-{i}-{j}", "sku": "EB-500", "category": "lmt",
                                                         "chemistry": "li-ion-nmc", "mass_kg": 2.8, "deposit": 5000,
                                                         "recycling_fee": 800, "contract": "deposit"}
                                                        for j in range(ITEMS_PER_SALE)]})) for i in range(count)]


def collections(run: str, count: int) -> list[Message]:
    serials = [f"{run}-{i}-{j}" for i in range(count) for j in range(ITEMS_PER_SALE)]
    return [Message("takeback.collections", PARTITION_FIRST, n, s.encode(), envelope(
        "collection.logged", "return_centre", "centre-cpu",
        {"collection_id": f"C-{s}", "centre_id": "centre-cpu", "serial": s, "condition": "functional"}))
        for n, s in enumerate(serials)]


async def timed(pool, name: str, messages: list[Message], batch: int) -> None:
    now = datetime.now(timezone.utc)
    started = time.process_time()
    for message in messages:
        decode(message, now)
    decode_s = time.process_time() - started
    started = time.process_time()
    for first in range(0, len(messages), batch):
        outcome = await apply_batch(pool, messages[first:first + batch])
        assert not outcome.rejected, outcome.rejected
    total_s = time.process_time() - started
    per = 1e6 / len(messages)
    print(f"{name:<12} {len(messages):>6} events  decode {decode_s * per:7.1f} µs/event  "
          f"apply {(total_s - decode_s) * per:7.1f} µs/event  (apply_batch in all {total_s * per:7.1f})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=500)
    arguments = parser.parse_args()
    settings = get_settings()
    pool = await create_pool(settings.database_url_as(db_roles.STREAMS))
    run = f"cpu{uuid.uuid4().hex[:8]}"
    try:
        await timed(pool, "sales", sales(run, arguments.sales), settings.batch_max_events)
        await timed(pool, "collections", collections(run, arguments.sales), settings.batch_max_events)
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
