"""Reconciliation: the invariants of DESIGN.md as named checks, the ledger against the scheme's records.

Everything is read in ONE repeatable-read transaction over both schemas, so the
ledger and the scheme are compared at the same instant. The ledger lags the
scheme by the postings still on Kafka: each money check adds them to the
ledger's side and shows them in its details; `postings_delivered` fails when one
stays in flight longer than its grace period.

A run is full (it reads the whole journal) or incremental (it reads what was
committed since the previous stored run's watermark and adds it to the totals
that run carried forward; `window.py` says when it may, `incremental.py` how).
Both give the same body, with the same checks; `scope` says which it was and why.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import asyncpg

from contracts import topics
from services.common import outbox
from services.common.channels import LEDGER_OUTBOX_CHANNEL
from services.common.kafka import client_options
from services.common.kafka_offsets import KafkaOffsets
from services.common.settings import Settings, get_settings
from services.ledger.adapters import discrepancy_records, events
from services.ledger.adapters.reconciliation import runs
from services.ledger.domain.checks import Check, status_of
from services.ledger.service_layer.reconciliation import (
    closing_checks,
    incremental,
    journal_checks,
    money_checks,
    scheme_checks,
    window,
)
from services.ledger.service_layer.reconciliation.snapshot import Snapshot, instant, take_snapshot
from services.ledger.service_layer.rows import jsonable

OPEN_DISCREPANCIES_SHOWN_MAX = 100
# Memory for each sort and hash of the whole-journal checks. 64 MB (with hash_mem_multiplier 2) let one
# backend reach 680 MB resident at 1,000,000 batteries; 24 MB keeps it under 400 MB and spills the rest.
RECONCILIATION_WORK_MEM = "24MB"

CHECKS = (
    journal_checks.entries_balanced,
    journal_checks.trial_balance_zero,
    journal_checks.movements_match_lines,
    journal_checks.ledger_traced_to_scheme,
    journal_checks.scheme_postings_in_ledger,
    journal_checks.postings_delivered,
    money_checks.deposit_liability,
    money_checks.refunds_once,
    money_checks.recycling_fund,
    money_checks.store_settlement,
    money_checks.centre_settlement,
    money_checks.bank_account,
    closing_checks.unclaimed_reserve,
    closing_checks.resolved_money_moved_once,
    money_checks.handling_fees_match_terms,
    scheme_checks.events_accounted,
    scheme_checks.custody_consistent,
)


class Reconciled(dict):
    """The contract's body (a dict), with what the run hands to the next one when it is stored."""

    def __init__(
        self, body: dict[str, Any], mode: window.Mode, watermark: str, carried: dict[str, Any]
    ) -> None:
        super().__init__(body)
        self.mode, self.watermark, self.carried = mode, watermark, carried


async def reconcile(
    pool: asyncpg.Pool,
    inputs: KafkaOffsets | None = None,
    mode: Literal["full", "incremental"] = "incremental",
    full_interval_s: float = window.FULL_RUN_INTERVAL_S,
    since: uuid.UUID | None = None,
) -> Reconciled:
    """Contract section 6: `{"status", "as_of", "checks", "open_discrepancies"}` (+
    `open_discrepancies_by_kind`, `scope`).

    Incremental unless `mode="full"` or the previous stored run (the latest, or the run `since`) is no sound
    start (`window.plan` says why).
    The input topics' offsets are read from Kafka before the snapshot is taken: every
    offset the streams committed by then was applied in a transaction the snapshot sees.
    """
    assert mode in ("full", "incremental"), "a run is full or incremental"
    reading = await scheme_checks.read_inputs(inputs or input_offsets(get_settings()))
    async with pool.acquire() as connection:
        marks = await window.tamper_marks(connection)  # before the snapshot: what they count, it sees
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            await runs.limit_memory(connection, RECONCILIATION_WORK_MEM)
            await runs.without_jit(connection)
            previous, last_full = await window.previous_run(connection, since)
            as_of, watermark = await instant(connection)
            plan = window.plan(mode, previous, last_full, marks, as_of, full_interval_s)
            checks, carried = await _checks(connection, plan, Snapshot(as_of, {}, {}, [], [], watermark))
            checks.append(await scheme_checks.offsets_accounted(connection, reading))
            discrepancies, by_kind = await _open_discrepancies(connection)
    body = {
        "status": status_of(checks),
        "as_of": as_of.isoformat(),
        "checks": [check.as_dict() for check in checks],
        "open_discrepancies": discrepancies,
        "open_discrepancies_by_kind": by_kind,
        "scope": _scope(plan, as_of, full_interval_s),
    }
    return Reconciled(
        body, plan.mode, watermark, {**carried, "version": window.CARRY_VERSION, "marks": marks}
    )


async def _checks(
    connection: asyncpg.Connection, plan: window.Plan, start: Snapshot
) -> tuple[list[Check], dict[str, Any]]:
    """A full run's checks over the whole journal, or an incremental run's over its window; and what they
    carry."""
    if plan.mode == "incremental":
        assert plan.previous is not None, "an incremental run starts from a previous one"
        return await incremental.run(connection, start, plan.previous)
    snapshot = await take_snapshot(connection)
    checks = [await check(connection, snapshot) for check in CHECKS]
    return checks, snapshot.carry


def _scope(plan: window.Plan, as_of: datetime, full_interval_s: float) -> dict[str, Any]:
    """What this run read, and what it vouches for."""
    last_full = as_of if plan.mode == "full" else plan.last_full_as_of
    return {
        "mode": plan.mode,
        "why_full": plan.why_full,
        "since": None if plan.mode == "full" or plan.previous is None else plan.previous.as_of.isoformat(),
        "since_run_id": None if plan.mode == "full" or plan.previous is None else plan.previous.run_id,
        "last_full_as_of": None if last_full is None else last_full.isoformat(),
        "full_interval_s": full_interval_s,
        "guarantee": window.GUARANTEE[plan.mode],
    }


def input_offsets(settings: Settings) -> KafkaOffsets:
    return KafkaOffsets(
        settings.kafka_bootstrap, settings.streams_group, topics.INPUT_TOPICS, client_options(settings)
    )


async def run_reconciliation(
    pool: asyncpg.Pool,
    inputs: KafkaOffsets | None = None,
    mode: Literal["full", "incremental"] = "incremental",
    full_interval_s: float = window.FULL_RUN_INTERVAL_S,
) -> tuple[uuid.UUID, Reconciled]:
    """Reconcile, store the run (with its watermark and carried totals) and publish it through the ledger's
    outbox."""
    result = await reconcile(pool, inputs, mode, full_interval_s)
    run_id = uuid.uuid4()
    async with pool.acquire() as connection, connection.transaction():
        await runs.store(
            connection,
            run_id,
            datetime.fromisoformat(result["as_of"]),
            result["status"],
            dict(result),
            result.mode,
            result.watermark,
            result.carried,
        )
        await outbox.write(connection, "ledger", [events.reconciliation_completed(run_id, result)])
        await outbox.notify_written(connection, LEDGER_OUTBOX_CHANNEL)
    return run_id, result


async def _open_discrepancies(connection: asyncpg.Connection) -> tuple[list[dict], dict[str, int]]:
    rows = await discrepancy_records.latest(connection, OPEN_DISCREPANCIES_SHOWN_MAX)
    return [jsonable(row) for row in rows], await discrepancy_records.count_by_kind(connection)
