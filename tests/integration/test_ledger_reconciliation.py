"""Reconciliation names the injected faults, and stores and publishes each periodic run.

Each test builds its own scheme rows and postings in XTS (the test currency),
asserts on the named check's details containing ITS subject (never on the
global status, which other tests' data may move), and purges its XTS rows.
The refund test also shows the same subject absent from the offenders before
the fault (a whole reconciliation reads the whole journal: once per test is enough).
"""

from __future__ import annotations

import json

import asyncpg
import pytest

from contracts import topics
from contracts.postings import entry_id_for
from services.ledger.service_layer import post, reconcile, run_reconciliation
from tests.conftest import send, unique, wait_for
from tests.integration.ledger_support import (  # noqa: F401  (clean, ledger_worker: fixtures)
    TEST_CURRENCY,
    SoldBattery,
    ask,
    battery,
    check,
    clean,
    insert_refunded,
    insert_sold,
    ledger_worker,
    named,
    purge_test_currency,
    untraced,
)


async def test_an_entry_removed_with_superuser_rights_is_found_and_named(
    pool, streams_pool, ledger_pool, superuser_url, clean
):
    sold = battery()
    async with streams_pool.acquire() as connection:
        await insert_sold(connection, sold)
        await ask(connection, [sold.sale()])
    await post(ledger_pool, [sold.sale()])

    tamper = await asyncpg.connect(superuser_url)
    try:
        async with tamper.transaction():
            await tamper.execute("SET LOCAL session_replication_role = replica")
            removed = entry_id_for(sold.sale().posting_key)
            await tamper.execute(
                "DELETE FROM ledger.entries WHERE entry_id = $1", removed
            )  # its lines with it
    finally:
        await tamper.close()

    result = await reconcile(pool)
    assert not check(result, "scheme_postings_in_ledger")["ok"]
    assert sold.sale().posting_key in named(
        result, "scheme_postings_in_ledger", "removed_from_ledger", "posting_key"
    )
    assert f"clearing:store:{sold.store_id}" in named(
        result, "movements_match_lines", "accounts_differing", "account"
    )
    assert result["status"] == "discrepancies"


UNBALANCE = "UPDATE ledger.entries SET credits[2] = credits[2] + 1 WHERE entry_id = $1"
LINES_VALID = "entries_lines_valid CHECK (ledger.lines_valid(accounts, currencies, debits, credits))"


async def test_an_entry_made_unbalanced_with_superuser_rights_is_found_and_named(
    pool, streams_pool, ledger_pool, superuser_url, clean
):
    """The database refuses an unbalanced entry even to a superuser whose triggers are off (a CHECK holds in
    replica mode); only dropping the constraint lets one in, and reconciliation finds and names it."""
    sold = battery()
    async with streams_pool.acquire() as connection:
        await insert_sold(connection, sold)
        await ask(connection, [sold.sale()])
    await post(ledger_pool, [sold.sale()])
    tampered = entry_id_for(sold.sale().posting_key)

    tamper = await asyncpg.connect(superuser_url)
    try:
        async with tamper.transaction():
            await tamper.execute("SET LOCAL session_replication_role = replica")
            with pytest.raises(asyncpg.CheckViolationError, match="entries_lines_valid"):
                async with tamper.transaction():
                    await tamper.execute(UNBALANCE, tampered)
            await tamper.execute("ALTER TABLE ledger.entries DROP CONSTRAINT entries_lines_valid")
            await tamper.execute(UNBALANCE, tampered)
            await tamper.execute(f"ALTER TABLE ledger.entries ADD CONSTRAINT {LINES_VALID} NOT VALID")
        result = await reconcile(pool)
        assert not check(result, "entries_balanced")["ok"]
        assert sold.sale().posting_key in named(result, "entries_balanced", "unbalanced", "posting_key")
        assert check(result, "trial_balance_zero")["details"]["totals"][TEST_CURRENCY] == {
            "debit": sold.deposit + sold.fee,
            "credit": sold.deposit + sold.fee + 1,
        }
        assert "liability:deposits" in named(result, "movements_match_lines", "accounts_differing", "account")
    finally:
        await purge_test_currency(
            superuser_url
        )  # the unbalanced entry goes; the constraint holds for all again
        await tamper.execute("ALTER TABLE ledger.entries VALIDATE CONSTRAINT entries_lines_valid")
        await tamper.close()


async def test_a_battery_changed_behind_the_schemes_back_is_found_and_named(
    pool, clean, streams_pool, ledger_pool
):
    sold = battery()
    async with streams_pool.acquire() as connection:
        await insert_sold(connection, sold)
        await ask(connection, [sold.sale()])
    await post(ledger_pool, [sold.sale()])

    await streams_pool.execute(
        "UPDATE scheme.batteries SET state = 'recycled' WHERE serial = $1", sold.serial
    )

    result = await reconcile(pool)
    assert not check(result, "custody_consistent")["ok"]
    inconsistent = check(result, "custody_consistent")["details"]["inconsistent"]["items"]
    assert {"serial": sold.serial, "state": "recycled", "last_recorded_state": "in_use"}.items() <= next(
        item for item in inconsistent if item["serial"] == sold.serial
    ).items()
    assert check(result, "deposit_liability")["details"]["difference"][TEST_CURRENCY] == sold.deposit


async def test_a_refund_posted_twice_by_a_broken_producer_is_found_and_named(
    pool, streams_pool, producer, clean, ledger_worker
):
    sold = battery()
    async with streams_pool.acquire() as connection:
        await insert_sold(connection, sold)
        await insert_refunded(connection, sold)
        await ask(connection, [sold.sale(), sold.refund()])
    for posting in (sold.sale(), sold.refund()):
        await send(producer, topics.POSTINGS, posting.posting_key, posting.model_dump_json().encode())
    await wait_for(lambda: _entries_about(pool, sold.serial, 2))
    healthy = await reconcile(pool)
    assert sold.serial not in named(healthy, "refunds_once", "refunded_twice", "serial")
    assert sold.centre_id not in named(healthy, "centre_settlement", "differing", "centre_id")

    again = sold.refund(key=f"refund:{sold.serial}:retry-{unique('r')}")  # a new key: the inbox is bypassed
    await send(producer, topics.POSTINGS, again.posting_key, again.model_dump_json().encode())
    await wait_for(lambda: _entries_about(pool, sold.serial, 3))

    result = await reconcile(pool)
    twice = next(
        i
        for i in check(result, "refunds_once")["details"]["refunded_twice"]["items"]
        if i["serial"] == sold.serial
    )
    assert twice["refunds"] == 2 and again.posting_key in twice["posting_keys"]
    assert {"posting_key": again.posting_key, "problem": "not_asked_by_scheme"}.items() <= untraced(
        result, again.posting_key
    ).items()
    assert sold.centre_id in named(result, "centre_settlement", "differing", "centre_id")
    assert check(result, "deposit_liability")["details"]["difference"][TEST_CURRENCY] == -sold.deposit


async def _entries_about(pool, serial: str, count: int) -> bool:
    return await pool.fetchval("SELECT count(*) FROM ledger.entries WHERE subject = $1", serial) == count


async def test_an_entry_whose_lines_differ_from_what_the_scheme_asked_is_named(
    pool, clean, streams_pool, ledger_pool
):
    sold = battery()
    asked, posted = (
        sold.sale(),
        SoldBattery(sold.serial, sold.sale_id, sold.store_id, sold.centre_id, fee=900).sale(),
    )
    async with streams_pool.acquire() as connection:
        await ask(connection, [asked])
    await post(ledger_pool, [posted])
    assert {"posting_key": asked.posting_key, "problem": "lines_differ"}.items() <= untraced(
        await reconcile(pool), asked.posting_key
    ).items()


async def test_a_posting_not_yet_in_the_ledger_counts_as_in_flight(pool, clean, streams_pool, ledger_pool):
    sold = battery()
    async with streams_pool.acquire() as connection:
        await insert_sold(connection, sold)
        await ask(connection, [sold.sale()])  # asked for, not posted: still on its way
    result = await reconcile(pool)
    assert check(result, "deposit_liability")["details"]["in_flight"][TEST_CURRENCY] == sold.deposit
    assert TEST_CURRENCY not in check(result, "deposit_liability")["details"]["difference"]
    assert sold.store_id not in named(result, "store_settlement", "differing", "store_id")
    assert check(result, "postings_delivered")["details"]["in_flight"] >= 1
    await post(ledger_pool, [sold.sale()])


async def test_a_periodic_run_is_stored_and_published_through_the_outbox(pool, ledger_pool):
    run_id, result = await run_reconciliation(ledger_pool)
    stored = await pool.fetchrow(
        "SELECT status, result FROM ledger.reconciliation_runs WHERE run_id = $1", run_id
    )
    assert stored["status"] == result["status"] and stored["result"]["checks"] == result["checks"]
    message = await pool.fetchrow("SELECT topic, key, value FROM ledger.outbox WHERE event_id = $1", run_id)
    event = json.loads(message["value"])
    assert message["topic"] == topics.RECONCILIATIONS
    assert (event["type"], event["source"], event["data"]["status"]) == (
        "reconciliation.completed",
        {"kind": "scheme", "id": "ledger"},
        result["status"],
    )
    assert {c["name"] for c in result["checks"]} >= {
        "entries_balanced",
        "trial_balance_zero",
        "ledger_traced_to_scheme",
        "scheme_postings_in_ledger",
        "postings_delivered",
        "deposit_liability",
        "refunds_once",
        "recycling_fund",
        "events_accounted",
        "custody_consistent",
        "store_settlement",
        "centre_settlement",
    }
