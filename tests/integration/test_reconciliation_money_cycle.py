"""Reconciliation of contract 8.1's money: payments against the bank account and the counterparties.

As in test_ledger_reconciliation: each test works in XTS and purges it. Every
fault is injected after a stored full run, and looked for by a full run and by
an incremental run starting from it: both must name it.
"""
from __future__ import annotations

import pytest

from services.ledger.service_layer import post, reconcile, run_reconciliation
from tests.integration.ledger_support import (  # noqa: F401  (clean: a fixture)
    TEST_CURRENCY, ask, battery, check, clean, insert_payment, insert_refunded, insert_sold, named, payment,
)

MODES = ("full", "incremental")


async def _runs(pool, ledger_pool, since) -> dict:
    incremental = await reconcile(pool, since=since)
    assert incremental["scope"]["mode"] == "incremental", incremental["scope"]
    return {"full": await reconcile(pool, mode="full"), "incremental": incremental}


async def _starting_run(ledger_pool):
    run_id, _ = await run_reconciliation(ledger_pool, mode="full")
    return run_id


async def test_payments_posted_as_recorded_reconcile(pool, streams_pool, ledger_pool, clean):
    sold = battery()
    async with streams_pool.acquire() as connection:
        await insert_sold(connection, sold)
        await insert_refunded(connection, sold)
        await ask(connection, [sold.sale(), sold.refund()])
    await post(ledger_pool, [sold.sale(), sold.refund()])
    since = await _starting_run(ledger_pool)
    store_id, store_paid = payment("store", sold.store_id, sold.deposit + sold.fee)
    centre_id, centre_paid = payment("centre", sold.centre_id, sold.deposit)
    async with streams_pool.acquire() as connection:
        await insert_payment(connection, store_id, "store", sold.store_id, sold.deposit + sold.fee)
        await insert_payment(connection, centre_id, "centre", sold.centre_id, sold.deposit)
        await ask(connection, [store_paid, centre_paid])
    await post(ledger_pool, [store_paid, centre_paid])
    for mode, result in (await _runs(pool, ledger_pool, since)).items():
        bank = check(result, "bank_account")
        assert bank["ok"], (mode, bank)
        assert bank["expected"][TEST_CURRENCY] == sold.fee  # received the deposit and fee, paid out the deposit
        assert sold.store_id not in named(result, "store_settlement", "differing", "store_id")
        assert sold.centre_id not in named(result, "centre_settlement", "differing", "centre_id")


async def test_a_payment_the_ledger_never_posted_is_named_by_the_bank_and_the_store(pool, streams_pool, ledger_pool,
                                                                                   clean):
    sold = battery()
    async with streams_pool.acquire() as connection:
        await insert_sold(connection, sold)
        await ask(connection, [sold.sale()])
    await post(ledger_pool, [sold.sale()])
    since = await _starting_run(ledger_pool)
    payment_id, _ = payment("store", sold.store_id, 1234)
    async with streams_pool.acquire() as connection:  # recorded, never asked of the ledger
        await insert_payment(connection, payment_id, "store", sold.store_id, 1234)
    for mode, result in (await _runs(pool, ledger_pool, since)).items():
        bank = check(result, "bank_account")
        assert not bank["ok"], mode
        assert bank["details"]["difference"][TEST_CURRENCY] == -1234
        assert sold.store_id in named(result, "store_settlement", "differing", "store_id")
        assert result["status"] == "discrepancies"


async def test_money_through_the_bank_that_no_payment_explains_is_named(pool, streams_pool, ledger_pool, clean):
    sold = battery()
    async with streams_pool.acquire() as connection:
        await insert_sold(connection, sold)
        await insert_refunded(connection, sold)
        await ask(connection, [sold.sale(), sold.refund()])
    await post(ledger_pool, [sold.sale(), sold.refund()])
    since = await _starting_run(ledger_pool)
    _, paid = payment("centre", sold.centre_id, 700)
    await post(ledger_pool, [paid])  # posted by a broken producer: no payment recorded, not asked by the scheme
    for mode, result in (await _runs(pool, ledger_pool, since)).items():
        bank = check(result, "bank_account")
        assert not bank["ok"], mode
        assert bank["details"]["difference"][TEST_CURRENCY] == -700
        assert sold.centre_id in named(result, "centre_settlement", "differing", "centre_id")
        assert paid.posting_key in named(result, "ledger_traced_to_scheme", "untraced", "posting_key")
