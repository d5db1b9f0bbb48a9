"""Where an incremental run starts: the previous run's watermark and carried totals, and whether it may start
there.

A run's watermark is the snapshot of its repeatable-read transaction
(`pg_current_snapshot()`). A row belongs to the next run's window when the
transaction that wrote it is not visible in that watermark and is visible in
the next run's own snapshot: every committed transaction falls in exactly one
window, whatever order transactions commit in.

A window cannot see a row that was deleted or rewritten by someone bypassing
the database's protections (its transaction may be old, or gone). The run
looks for their traces before it trusts the carried totals: the statistics
counters of updated and deleted rows of each append-only table, the table's
storage file (a TRUNCATE or a rewrite gives it a new one) and the time the
statistics were last reset. Any of them moved: the run is full. So is the
first run, and a run when the last full one is older than FULL_RUN_INTERVAL_S
(what no trace shows is found within that interval). The offenders a run names
are carried by key and looked at again by the next one, so a fault stays named
for as long as it is there, as a full run would name it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg

from services.ledger.adapters.reconciliation import in_place_figures, runs

CARRY_VERSION = (
    4  # the shape of `carried`; a run stored with another version is no start for an incremental one
)
FULL_RUN_INTERVAL_S = (
    3600  # at most this long between two full runs (the periodic schedule makes one when due)
)
CARRIED_KEYS_MAX = (
    20_000  # postings in flight, or offenders of one check, carried by key; more: the next run is full
)

Mode = Literal["full", "incremental"]
GUARANTEE = {
    "full": "every check over the whole journal and every record of the scheme",
    "incremental": (
        "every check a full run makes, with the same result, over what was committed since the run it "
        "started from added to that run's carried totals, and over the offenders it named; of batteries and "
        "sale items, the changes every statement recorded since then (whoever wrote it), and each battery "
        "they added, removed or changed in custody or deposit is checked. "
        "A row of an append-only table updated, deleted or truncated since then, batteries or sale items "
        "truncated, or a trigger recording their changes disabled or dropped, would have made this run "
        "full; what leaves no such trace (a row forged with an old transaction id, data files edited "
        "outside the database) is found by the next full run, at most "
        "full_interval_s after the last one"
    ),
}


@dataclass(frozen=True)
class PreviousRun:
    run_id: str
    as_of: datetime
    status: str
    watermark: str  # pg_snapshot text: xmin:xmax:xip,...
    carried: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    mode: Mode
    why_full: str | None  # None for an incremental run
    previous: PreviousRun | None
    last_full_as_of: datetime | None


async def previous_run(
    connection: asyncpg.Connection, since: uuid.UUID | None = None
) -> tuple[PreviousRun | None, datetime | None]:
    """The latest stored run with a watermark (or the run `since`), and when the latest full run was made."""
    row = await runs.previous(connection, since)
    last_full = await runs.last_full_as_of(connection)
    if row is None:
        return None, last_full
    return PreviousRun(
        str(row["run_id"]), row["as_of"], row["status"], row["watermark"], row["carried"]
    ), last_full


async def tamper_marks(connection: asyncpg.Connection) -> dict[str, Any]:
    """Per append-only table: its storage file and its counters of updated and deleted rows; the stats'
    reset."""
    rows = await runs.table_marks(connection)  # a table not (or no longer) there: left out
    reset = await runs.stats_reset(connection)
    triggers = await in_place_figures.recording_triggers(connection)
    return {
        "tables": {row["relation"]: [row["storage"], row["updated"], row["deleted"]] for row in rows},
        "stats_reset": None if reset is None else reset.isoformat(),
        "in_place": {row["relation"]: row["storage"] for row in await runs.in_place_marks(connection)},
        "triggers": {row["name"]: [row["oid"], row["xmin"], row["enabled"]] for row in triggers},
    }


def plan(
    requested: Mode,
    previous: PreviousRun | None,
    last_full_as_of: datetime | None,
    marks: dict[str, Any],
    as_of: datetime,
    full_interval_s: float = FULL_RUN_INTERVAL_S,
) -> Plan:
    """Incremental when asked for and the previous run is a sound start; otherwise full, saying why."""
    why = _why_full(requested, previous, last_full_as_of, marks, as_of, full_interval_s)
    return Plan("full" if why else "incremental", why, previous, last_full_as_of)


def _why_full(
    requested: Mode,
    previous: PreviousRun | None,
    last_full_as_of: datetime | None,
    marks: dict[str, Any],
    as_of: datetime,
    full_interval_s: float,
) -> str | None:
    if requested == "full":
        return "a full run was asked for"
    if previous is None:
        return "no earlier run stored a watermark to start from"
    carried = previous.carried
    if carried.get("version") != CARRY_VERSION:
        return f"the previous run's carried totals are of another version ({carried.get('version')})"
    if carried.get("overflow"):
        return f"the previous run carried more than {CARRIED_KEYS_MAX} {carried['overflow']} by key"
    if last_full_as_of is None or as_of - last_full_as_of > timedelta(seconds=full_interval_s):
        return f"the last full run is older than {full_interval_s:g} s (the interval between full runs)"
    return tampered_since(carried.get("marks") or {}, marks)


def tampered_since(before: dict[str, Any], now: dict[str, Any]) -> str | None:
    """Why the carried totals cannot be trusted any more (rows removed or rewritten in place), or None."""
    if before.get("stats_reset") != now.get("stats_reset"):
        return "the database's statistics were reset since the previous run: deletions could not be ruled out"
    if why := _not_recorded(before, now):
        return why
    old_tables = before.get("tables") or {}
    for table, (storage, updated, deleted) in sorted((now.get("tables") or {}).items()):
        if table not in old_tables:
            return f"{table} was not watched by the previous run"
        old_storage, old_updated, old_deleted = old_tables[table]
        if storage != old_storage:
            return f"{table} was truncated or rewritten since the previous run (new storage file)"
        if (updated, deleted) != (old_updated, old_deleted):
            return (
                f"rows of {table}, which is only ever added to, were updated ({updated - old_updated}) or "
                f"deleted ({deleted - old_deleted}) since the previous run"
            )
    return None


def _not_recorded(before: dict[str, Any], now: dict[str, Any]) -> str | None:
    """Why the changes of batteries or sale items since the previous run may not all be recorded, or None."""
    triggers = now.get("triggers") or {}
    for table, names in sorted(in_place_figures.RECORDING_TRIGGERS.items()):
        for name in names:
            mark = triggers.get(f"{table} {name}")
            if mark is None or mark[2] != "A":
                return f"the trigger {name} recording the changes of {table} is missing or not always enabled"
    if triggers != (before.get("triggers") or {}):
        return "a trigger recording the changes of batteries or sale items was altered since the previous run"
    for table, storage in sorted((now.get("in_place") or {}).items()):
        if storage != (before.get("in_place") or {}).get(table):
            return f"{table} was truncated or rewritten since the previous run (new storage file)"
    return None


def carry_keys(carry: dict[str, Any], name: str, keys: list[str]) -> None:
    """Keys the next run looks at again (postings in flight, a check's offenders); too many make it full."""
    if len(keys) > CARRIED_KEYS_MAX:
        carry["overflow"] = name
    carry[name] = sorted(keys)[:CARRIED_KEYS_MAX]
