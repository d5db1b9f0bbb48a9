"""Checks of the scheme's own records: every event accounted for, custody records consistent."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import asyncpg

from services.common.ids import stable_id
from services.common.kafka_offsets import KafkaOffsets, PartitionOffsets
from services.ledger.adapters.reconciliation import scheme_figures as figures
from services.ledger.domain import in_place_totals
from services.ledger.domain.checks import Check, offenders
from services.ledger.domain.offsets import Span, offsets_in, uncovered
from services.ledger.service_layer.reconciliation import in_place
from services.ledger.service_layer.reconciliation.snapshot import Snapshot
from services.ledger.service_layer.reconciliation.window import carry_keys
from services.ledger.service_layer.rows import jsonable

OUTCOMES = ("applied", "rejected")
# What a full run names of each inconsistent battery (`scheme_figures.INCONSISTENT_SQL`), in its order.
INCONSISTENT_FIELDS = ("serial", "state", "last_recorded_state", "history_length", "records_after_last")


async def events_accounted(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Invariant 5: every event read ended applied or rejected (with a reason), never neither."""
    by_type = await figures.events_by_type(connection)
    without_reason = await figures.rejected_without_reason(connection)
    snapshot.carry["inbox"], snapshot.carry["rejected_without_reason"] = (
        [list(t) for t in by_type],
        without_reason,
    )
    return events_check(by_type, without_reason)


def events_check(by_type: list[tuple[str, str, int]], without_reason: int, **details) -> Check:
    by_outcome: dict[str, int] = {}
    for _, outcome, events in by_type:
        by_outcome[outcome] = by_outcome.get(outcome, 0) + events
    total = sum(by_outcome.values())
    accounted = sum(by_outcome.get(outcome, 0) for outcome in OUTCOMES)
    return Check(
        "events_accounted",
        accounted == total and without_reason == 0,
        total,
        accounted,
        {
            "by_outcome": by_outcome,
            "rejected_without_reason": without_reason,
            "by_type": [{"event_type": t, "outcome": o, "events": n} for t, o, n in sorted(by_type)],
            **details,
        },
    )


async def custody_consistent(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Each battery's state is the state of its last custody record (seq = history_length), with none after
    it.

    A battery changed behind the scheme's back (its row edited, no history written) fails, named.
    """
    rows = [jsonable(row) for row in await figures.inconsistent_batteries(connection)]
    batteries = in_place_totals.batteries(await in_place.battery_totals(connection, snapshot))
    carry_keys(snapshot.carry, "inconsistent", [row["serial"] for row in rows])
    return custody_check(batteries, rows)


async def inconsistent_in_window(
    connection: asyncpg.Connection, since: str, named: list[str]
) -> tuple[int, list[dict]]:
    """How many batteries an incremental run's window and `named` hold, and the inconsistent among them."""
    checked, rows = await figures.inconsistent_in_window(connection, since, named)
    return checked, [{key: row[key] for key in INCONSISTENT_FIELDS} for row in map(jsonable, rows)]


def custody_check(batteries: int, rows: list[dict], **details) -> Check:
    return Check(
        "custody_consistent",
        not rows,
        0,
        len(rows),
        {"batteries": batteries, "inconsistent": offenders(rows), **details},
    )


GAP_OFFSETS_READ_MAX = 1000  # offsets without a recorded outcome read back from Kafka in one run


@dataclass(frozen=True)
class InputReading:
    """The input partitions as Kafka saw them just before the snapshot, or why they could not be read."""

    reader: KafkaOffsets | None
    partitions: list[PartitionOffsets]
    error: str | None = None


async def read_inputs(reader: KafkaOffsets) -> InputReading:
    try:
        return InputReading(reader, await reader.partitions())
    except Exception as error:  # the broker is away: the check says so instead of passing
        return InputReading(None, [], f"the input topics' offsets could not be read: {error!r}")


async def offsets_accounted(connection: asyncpg.Connection, reading: InputReading) -> Check:
    """Every offset of every input partition below the streams' committed offset has an outcome.

    Offsets without a recorded outcome (from before revision 0009, or lost) are read back
    from Kafka: one whose event is in the inbox, or whose position-based rejection is in
    the outbox, is accounted; one holding no data record (a transaction marker) too;
    any other is lost, and named.
    """
    if reading.error is not None:
        return Check(
            "offsets_accounted", False, "every input offset with an outcome", None, {"error": reading.error}
        )
    islands: dict[tuple[str, int], list[Span]] = {}
    for row in await figures.offset_islands(connection):
        islands.setdefault((row["topic"], row["partition"]), []).append(
            (row["first_offset"], row["last_offset"])
        )
    gaps = {
        (p.topic, p.partition): uncovered(
            islands.get((p.topic, p.partition), []),
            p.log_start,
            p.committed if p.committed is not None else p.log_start,
        )
        for p in reading.partitions
    }
    lost, unread = await _verify_gaps(connection, reading.reader, gaps)
    read_to = sum((p.committed or p.log_start) - p.log_start for p in reading.partitions)
    return Check(
        "offsets_accounted",
        not lost and not unread,
        0,
        len(lost) + unread,
        {
            "partitions": len(reading.partitions),
            "offsets_read": read_to,
            "offsets_without_recorded_outcome": sum(
                last - first + 1 for spans in gaps.values() for first, last in spans
            ),
            "lost": offenders(lost),
            "not_verified": unread,
            "in_flight": sum(p.end - (p.committed or p.log_start) for p in reading.partitions),
        },
    )


async def _verify_gaps(
    connection, reader: KafkaOffsets, gaps: dict[tuple[str, int], list[Span]]
) -> tuple[list[dict], int]:
    wanted, unread = [], 0
    for (topic, partition), spans in gaps.items():
        offsets = offsets_in(spans, GAP_OFFSETS_READ_MAX - len(wanted))
        unread += sum(last - first + 1 for first, last in spans) - len(offsets)
        wanted.extend((topic, partition, offset) for offset in offsets)
    values = await reader.messages(wanted) if wanted else {}
    ids = {position: _event_id(value) for position, value in values.items()}
    known = await figures.known_events(
        connection,
        [i for i in ids.values() if i is not None],
        [uuid.UUID(stable_id("rejected", *position)) for position in values],
    )
    lost = [
        {"topic": t, "partition": p, "offset": o}
        for (t, p, o) in values
        if ids[(t, p, o)] not in known and uuid.UUID(stable_id("rejected", t, p, o)) not in known
    ]
    return lost, unread


def _event_id(value: bytes | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(json.loads(value)["event_id"]))
    except (TypeError, ValueError, KeyError):
        return None
