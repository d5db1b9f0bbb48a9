"""The truth about the scheme's flow, in one place: relays, parked messages, consumer lag, reconciliation.

`takeback status`, every worker's `/healthz` and `/metrics`, and the gateway's
`/healthz` show the same report. It is read from PostgreSQL and Kafka directly,
so a dead or stuck process cannot report itself healthy.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg
from prometheus_client import Gauge

from contracts import topics
from services.common.kafka import client_options
from services.common.kafka_offsets import LEDGER_GROUP, KafkaOffsets, OffsetsReader
from services.common.logging import get_logger
from services.common.outbox import UNSENT as UNSENT_WHERE
from services.common.settings import Settings

log = get_logger(__name__)
OUTBOX_SCHEMAS = ("scheme", "ledger")
REFRESH_INTERVAL_S = 10.0

OLDEST_UNSENT = Gauge(
    "takeback_outbox_oldest_unsent_age_seconds",
    "Age of the oldest event out not yet published by the relay (0 when none).",
    ["schema"],
)
UNSENT = Gauge("takeback_outbox_unsent_rows", "Events out not yet published by the relay.", ["schema"])
PARKED = Gauge(
    "takeback_outbox_parked_rows",
    "Events out parked: the broker would not take them as they are.",
    ["schema"],
)
CONSUMER_LAG = Gauge(
    "takeback_consumer_lag_messages", "Messages not yet committed by a consumer group.", ["group"]
)
RECONCILIATION_BALANCED = Gauge(
    "takeback_reconciliation_balanced",
    "1 if the last reconciliation run was balanced, 0 if not, -1 if none ran yet.",
)
RECONCILIATION_AGE = Gauge("takeback_reconciliation_age_seconds", "Age of the last reconciliation run.")

RELAY_SQL = (
    """
    SELECT count(o.seq) AS unsent,
           coalesce(extract(epoch FROM now() - min(o.created_at)), 0)::float8 AS oldest_unsent_age_s,
           (SELECT count(*) FROM {s}.outbox_parked) AS parked,
           extract(epoch FROM now() - r.updated_at)::float8 AS cursor_age_s
      FROM {s}.outbox_relay r
      LEFT JOIN {s}.outbox o ON """
    + UNSENT_WHERE
    + """
     GROUP BY r.updated_at"""
)
RECONCILIATION_SQL = """
    SELECT run_id, status, as_of, extract(epoch FROM now() - as_of)::float8 AS age_s,
           (SELECT coalesce(jsonb_agg(c->>'name'), '[]'::jsonb) FROM jsonb_array_elements(result->'checks') c
             WHERE NOT (c->>'ok')::boolean) AS failed_checks
      FROM ledger.reconciliation_runs ORDER BY as_of DESC LIMIT 1"""


@dataclass(frozen=True)
class Bounds:
    relay_stuck_after_s: float

    @classmethod
    def of(cls, settings: Settings) -> Bounds:
        return cls(settings.relay_stuck_after_s)


async def relays(connection: asyncpg.Connection) -> list[dict[str, Any]]:
    out = []
    for schema in OUTBOX_SCHEMAS:
        row = await connection.fetchrow(RELAY_SQL.format(s=schema))
        out.append(
            {
                "schema": schema,
                "unsent": row["unsent"],
                "oldest_unsent_age_s": round(row["oldest_unsent_age_s"], 1),
                "parked": row["parked"],
                "cursor_age_s": round(row["cursor_age_s"], 1),
            }
        )
    return out


async def last_reconciliation(connection: asyncpg.Connection) -> dict[str, Any] | None:
    row = await connection.fetchrow(RECONCILIATION_SQL)
    if row is None:
        return None
    return {
        "run_id": str(row["run_id"]),
        "status": row["status"],
        "as_of": row["as_of"].isoformat(),
        "age_s": round(row["age_s"], 1),
        "failed_checks": row["failed_checks"],
    }


async def consumer_lag(settings: Settings, reader: OffsetsReader | None = None) -> dict[str, int | None]:
    """Messages each group has not committed yet; None where Kafka could not be read.

    Through `reader`'s clients, kept open between readings; without one (`takeback status`), through
    clients made for this reading and closed after it."""
    groups = {settings.streams_group: topics.INPUT_TOPICS, LEDGER_GROUP: topics.INTERNAL_TOPICS}
    lag: dict[str, int | None] = {}
    for group, names in groups.items():
        try:
            if reader is None:
                offsets = await KafkaOffsets(
                    settings.kafka_bootstrap, group, names, client_options(settings)
                ).partitions()
            else:
                offsets = await reader.partitions(group, names)
            lag[group] = sum(p.lag for p in offsets)
        except Exception as error:  # the broker is away: say so, do not guess
            log.warning("consumer_lag_unreadable", group=group, error=repr(error))
            lag[group] = None
    return lag


def problems(report: dict[str, Any], bounds: Bounds) -> list[str]:
    """What makes the scheme unhealthy, in words for an operator; empty when all is well."""
    found = []
    for relay in report["relays"]:
        if relay["oldest_unsent_age_s"] > bounds.relay_stuck_after_s:
            found.append(
                f"relay {relay['schema']}: oldest unsent event out is {relay['oldest_unsent_age_s']:.0f} s "
                f"old (bound {bounds.relay_stuck_after_s:.0f} s)"
            )
        if relay["parked"]:
            found.append(
                f"relay {relay['schema']}: {relay['parked']} event(s) out parked "
                f"(see {relay['schema']}.outbox_parked)"
            )
    for group, lag in report["consumer_lag"].items():
        if lag is None:
            found.append(f"consumer group {group}: lag unreadable (Kafka away?)")
    reconciliation = report["reconciliation"]
    if reconciliation is not None and reconciliation["status"] != "balanced":
        found.append(
            f"last reconciliation: {reconciliation['status']} "
            f"(failed: {', '.join(reconciliation['failed_checks'])})"
        )
    return found


def rows_of(report: dict[str, Any], settings: Settings) -> list[dict[str, Any]]:
    """The report as `takeback status` rows: {"kind": "flow", "part", "healthy", "where", "detail", ...}."""
    bound = Bounds.of(settings).relay_stuck_after_s
    rows = [
        {
            "kind": "flow",
            "part": f"relay {r['schema']}",
            "where": f"{r['schema']}.outbox",
            "healthy": r["oldest_unsent_age_s"] <= bound and not r["parked"],
            **r,
            "detail": f"{r['unsent']} unsent, oldest {r['oldest_unsent_age_s']:.0f} s, {r['parked']} parked",
        }
        for r in report["relays"]
    ]
    rows += [
        {
            "kind": "flow",
            "part": f"consumer {group}",
            "where": "kafka",
            "healthy": lag is not None,
            "lag": lag,
            "detail": "lag unreadable" if lag is None else f"lag {lag}",
        }
        for group, lag in report["consumer_lag"].items()
    ]
    last = report["reconciliation"]
    rows.append(
        {
            "kind": "flow",
            "part": "reconciliation",
            "where": "ledger.reconciliation_runs",
            "healthy": last is None or last["status"] == "balanced",
            "last": last,
            "detail": "no run yet"
            if last is None
            else f"{last['status']} {last['age_s']:.0f} s ago"
            + (f" (failed: {', '.join(last['failed_checks'])})" if last["failed_checks"] else ""),
        }
    )
    return rows


async def read_report(
    pool: asyncpg.Pool, settings: Settings, kafka: OffsetsReader | None = None
) -> dict[str, Any]:
    """The report; `kafka`: the process's long-lived offsets reader (none: clients for this reading only)."""
    async with pool.acquire() as connection:
        report = {"relays": await relays(connection), "reconciliation": await last_reconciliation(connection)}
    report["consumer_lag"] = await consumer_lag(settings, kafka)
    report["problems"] = problems(report, Bounds.of(settings))
    report["status"] = "ok" if not report["problems"] else "degraded"
    return report


def export(report: dict[str, Any]) -> None:
    """The report as Prometheus gauges."""
    for relay in report["relays"]:
        OLDEST_UNSENT.labels(relay["schema"]).set(relay["oldest_unsent_age_s"])
        UNSENT.labels(relay["schema"]).set(relay["unsent"])
        PARKED.labels(relay["schema"]).set(relay["parked"])
    for group, lag in report["consumer_lag"].items():
        if lag is not None:
            CONSUMER_LAG.labels(group).set(lag)
    reconciliation = report["reconciliation"]
    RECONCILIATION_BALANCED.set(-1 if reconciliation is None else int(reconciliation["status"] == "balanced"))
    if reconciliation is not None:
        RECONCILIATION_AGE.set(reconciliation["age_s"])


class HealthMonitor:
    """Refreshes the report every REFRESH_INTERVAL_S in a worker; its last reading is what /healthz shows.

    It reads Kafka through one set of clients for the life of the process (`OffsetsReader`: connected
    again after a failed reading), closed when `run_forever` ends or is cancelled, or by `close()`.
    """

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool, self.settings = pool, settings
        self.report: dict[str, Any] | None = None
        self.kafka = OffsetsReader(settings.kafka_bootstrap, client_options(settings))

    async def run_forever(self) -> None:
        try:
            while True:
                try:
                    self.report = await read_report(self.pool, self.settings, self.kafka)
                    export(self.report)
                except Exception as error:  # the database is away: the report says so
                    self.report = {"status": "degraded", "problems": [f"health unreadable: {error!r}"]}
                    log.warning("health_report_unreadable", error=repr(error))
                await asyncio.sleep(REFRESH_INTERVAL_S)
        finally:
            await self.close()

    async def close(self) -> None:
        await self.kafka.close()
