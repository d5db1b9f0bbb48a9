"""`takeback bench --json` prints the figures it promises; the soak run is one command away (`-m slow`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from services.bench import ceilings, scenario

TAKEBACK = str(Path(sys.executable).parent / "takeback")
PROMISED = {
    "events",
    "events_per_second",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "ceiling_kafka_events_per_second",
    "ceiling_postgres_events_per_second",
    "peak_rss_mb",
}


def bench(batteries: int) -> dict:
    return takeback_bench("--batteries", str(batteries), timeout_s=3600)


def takeback_bench(*options: str, timeout_s: float = 600) -> dict:
    """`takeback bench OPTIONS --json` against the test stack: its figures, once it ended with status 0."""
    run = subprocess.run(
        [TAKEBACK, "bench", *options, "--json"],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=os.environ,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


def test_bench_prints_every_promised_figure_for_a_small_run(stack):
    result = bench(200)
    assert PROMISED <= set(result)
    assert result["events"] == 200 // scenario.ITEMS_PER_SALE + 200 + 3 * (200 // scenario.BATTERIES_PER_LOT)
    assert result["journal_entries"] == scenario.expected_entries(200)
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert result["events_per_second"] > 0 and result["ceiling_kafka_events_per_second"] > 0
    assert result["ceiling_postgres_events_per_second"] > 0
    assert {"streams", "ledger", "kafka", "postgres"} <= set(result["peak_rss_mb"])
    working = {
        name: seconds
        for name, seconds in result["cpu_seconds"].items()
        if name in ("streams", "postgres", "bench")
    }
    assert len(working) == 3 and all(seconds > 0 for seconds in working.values()), result["cpu_seconds"]
    assert result["cpu_ms_per_event"] == round(
        sum(result["cpu_seconds"].values()) * 1000 / result["events"], 3
    )


async def ceiling_tables(connection) -> list[str]:
    return [
        row["relname"]
        for row in await connection.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1",
            ceilings.CEILING_SCHEMA,
        )
    ]


async def shape(connection, table: str) -> tuple[list, list]:
    """A table's constraints (kind and definition) and indexes (method and columns), without their names."""
    constraints = await connection.fetch(
        "SELECT contype::text, pg_get_constraintdef(oid) AS definition FROM pg_constraint "
        "WHERE conrelid = $1::regclass ORDER BY 1, 2",
        table,
    )
    indexes = await connection.fetch(
        "SELECT regexp_replace(pg_get_indexdef(indexrelid), '^.* USING ', '') AS definition, indisprimary "
        "FROM pg_index WHERE indrelid = $1::regclass ORDER BY 1",
        table,
    )
    return [tuple(r) for r in constraints], [tuple(r) for r in indexes]


async def test_the_postgres_ceiling_copies_into_a_logged_table_shaped_like_the_journal(owner_pool):
    """Logged (not temporary, not unlogged), the journal's primary key, indexes and checks, in the bench's
    own schema; its checks hold; dropped afterwards with the schema."""
    async with owner_pool.acquire() as connection:
        async with ceilings.ceiling_table(connection) as table:
            qualified = f"{ceilings.CEILING_SCHEMA}.{table}"
            persistence = await connection.fetchval(
                "SELECT relpersistence::text FROM pg_class WHERE oid = $1::regclass", qualified
            )
            assert persistence == "p"
            assert await shape(connection, qualified) == await shape(connection, "ledger.entries")
            assert ("p", "PRIMARY KEY (entry_id)") in (await shape(connection, qualified))[0]
            records = ceilings.widest_entry_records(3, scenario.Names(run="Btest"))
            await connection.copy_records_to_table(
                table, schema_name=ceilings.CEILING_SCHEMA, records=records, columns=ceilings.ENTRY_COLUMNS
            )
            assert await connection.fetchval(f"SELECT count(*) FROM {qualified}") == 3
            unbalanced = (*records[0][:-1], (0, 5000, 700))
            with pytest.raises(asyncpg.CheckViolationError):
                await connection.copy_records_to_table(
                    table,
                    schema_name=ceilings.CEILING_SCHEMA,
                    records=[unbalanced],
                    columns=ceilings.ENTRY_COLUMNS,
                )
            with pytest.raises(asyncpg.UniqueViolationError):
                await connection.copy_records_to_table(
                    table,
                    schema_name=ceilings.CEILING_SCHEMA,
                    records=records[:1],
                    columns=ceilings.ENTRY_COLUMNS,
                )
        assert await ceiling_tables(connection) == []
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM pg_namespace WHERE nspname = $1", ceilings.CEILING_SCHEMA
            )
            == 0
        )


@pytest.mark.slow
def test_soak_a_hundred_thousand_lives(stack):
    """Prints the figures of a longer run; run with `.venv/bin/python -m pytest -m slow -s`."""
    result = bench(100_000)
    print(json.dumps(result, indent=2))
    assert result["journal_entries"] == scenario.expected_entries(100_000)


def test_bench_waiters_prints_every_answer_right_and_the_gateway_memory(stack):
    """`takeback bench --waiters N`: N collections at once with Prefer: wait, each answered with its outcome
    (or 202 once its wait expired), none 5xx, and the memory of every gateway process."""
    result = takeback_bench("--waiters", "20")["waiters"]
    assert (result["waiters"], result["answered"], result["in_flight_peak"]) == (20, 20, 20)
    assert result["outcomes_correct"] + result["expired_202"] == 20, result
    assert (result["wrong"], result["server_errors_5xx"]) == (0, 0), result
    assert sum(result["statuses"].values()) == 20 and set(result["statuses"]) <= {"200", "202"}
    assert 0 < result["p50_ms"] <= result["p99_ms"]
    memory = result["gateway_peak_rss_mb"]
    assert memory["total"] >= max(memory.values()) > 0 and len(memory) >= 2, memory
    assert 0 < result["gateway_peak_private_mb"] <= memory["total"], result


def test_bench_gateway_and_counter_count_every_answer_of_the_real_gateway(stack):
    """`takeback bench --gateway --counter`: every collection sent over HTTP answered (202 accepted without
    waiting, 200 with its decision under Prefer: wait), the figures each phase promises, and the load
    generator's CPU a request."""
    result = takeback_bench("--gateway", "--requests", "100", "--counter", "--collections", "100")
    gateway, counter = result["gateway"], result["counter"]
    assert (gateway["statuses"], gateway["half_statuses"]) == ({"202": 100}, {"202": 100}), gateway
    assert gateway["accepted_per_second"] > 0 and gateway["half_rate_per_second"] > 0
    assert 0 < gateway["p50_ms"] <= gateway["p99_ms"] and 0 < gateway["half_p50_ms"] <= gateway["half_p99_ms"]
    assert gateway["generator_cpu_ms_per_request"] >= 0 and gateway["gateway_cpu_ms_per_request"] > 0
    assert (counter["statuses_max"], counter["statuses"]) == ({"200": 50}, {"200": 50}), counter
    assert counter["decisions_per_second_max"] > 0 and 0 < counter["p50_ms"] <= counter["p99_ms"]


def test_bench_counter_at_a_given_rate_runs_its_second_half_at_that_rate_once_the_stack_settled(stack):
    """`takeback bench --counter --rate R`: the second run at R a second, not half the first's, started once
    both outboxes were sent and every consumer group caught up (`settled_s`)."""
    counter = takeback_bench("--counter", "--collections", "100", "--rate", "25")["counter"]
    assert counter["rate_per_second"] == 25.0 and counter["statuses"] == {"200": 50}, counter
    assert counter["settled_s"] >= 0
