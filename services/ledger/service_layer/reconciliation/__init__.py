"""Reconciliation: the invariants of DESIGN.md as named checks, the ledger against the scheme's records.

Everything is read in ONE repeatable-read transaction over both schemas, so the
ledger and the scheme are compared at the same instant. The ledger lags the
scheme by the postings still on Kafka: each money check adds them to the
ledger's side and shows them in its details; `postings_delivered` fails when one
stays in flight longer than its grace period.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from contracts import topics
from services.common import outbox
from services.common.kafka import client_options
from services.common.kafka_offsets import KafkaOffsets
from services.common.settings import Settings, get_settings
from services.ledger.adapters import events
from services.ledger.domain.checks import status_of
from services.ledger.service_layer.reconciliation import journal_checks, money_checks, scheme_checks
from services.ledger.service_layer.reconciliation.snapshot import take_snapshot
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
    scheme_checks.events_accounted,
    scheme_checks.custody_consistent,
)


async def reconcile(pool: asyncpg.Pool, inputs: KafkaOffsets | None = None) -> dict[str, Any]:
    """Contract section 6: `{"status", "as_of", "checks", "open_discrepancies"}` (+ `open_discrepancies_by_kind`).

    The input topics' offsets are read from Kafka before the snapshot is taken: every
    offset the streams committed by then was applied in a transaction the snapshot sees.
    """
    reading = await scheme_checks.read_inputs(inputs or input_offsets(get_settings()))
    async with pool.acquire() as connection:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            await connection.execute(f"SET LOCAL work_mem = '{RECONCILIATION_WORK_MEM}'; "
                                     "SET LOCAL hash_mem_multiplier = 1")
            snapshot = await take_snapshot(connection)
            checks = [await check(connection, snapshot) for check in CHECKS]
            checks.append(await scheme_checks.offsets_accounted(connection, reading))
            discrepancies, by_kind = await _open_discrepancies(connection)
    return {
        "status": status_of(checks), "as_of": snapshot.as_of.isoformat(),
        "checks": [check.as_dict() for check in checks],
        "open_discrepancies": discrepancies, "open_discrepancies_by_kind": by_kind,
    }


def input_offsets(settings: Settings) -> KafkaOffsets:
    return KafkaOffsets(settings.kafka_bootstrap, settings.streams_group, topics.INPUT_TOPICS,
                        client_options(settings))


async def run_reconciliation(pool: asyncpg.Pool, inputs: KafkaOffsets | None = None
                             ) -> tuple[uuid.UUID, dict[str, Any]]:
    """Reconcile, store the run and publish it (`reconciliation.completed`) through the ledger's outbox."""
    result = await reconcile(pool, inputs)
    run_id = uuid.uuid4()
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "INSERT INTO ledger.reconciliation_runs (run_id, as_of, status, result) "
            "VALUES ($1, $2::timestamptz, $3, $4)",
            run_id, datetime.fromisoformat(result["as_of"]), result["status"], result)
        await outbox.write(connection, "ledger", [events.reconciliation_completed(run_id, result)])
    return run_id, result


async def _open_discrepancies(connection: asyncpg.Connection) -> tuple[list[dict], dict[str, int]]:
    rows = await connection.fetch(
        "SELECT discrepancy_id, kind, subject, details, caused_by, opened_at FROM scheme.discrepancies "
        "ORDER BY opened_at DESC, discrepancy_id LIMIT $1", OPEN_DISCREPANCIES_SHOWN_MAX)
    counts = await connection.fetch("SELECT kind, count(*) AS n FROM scheme.discrepancies GROUP BY kind ORDER BY kind")
    return [jsonable(row) for row in rows], {row["kind"]: row["n"] for row in counts}
