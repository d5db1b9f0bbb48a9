"""Reconciliation of contract 8.1's money: payments against the bank account and the counterparties.

As in test_ledger_reconciliation: each test works in XTS and purges it. Every
fault is injected after a stored full run, and looked for by a full run and by
an incremental run starting from it: both must name it.
"""

from __future__ import annotations

from services.ledger.service_layer import post, reconcile, run_reconciliation
from tests.integration.ledger_support import (  # noqa: F401  (clean: a fixture)
    TEST_CURRENCY,
    ask,
    battery,
    check,
    clean,
    handling_fee_posting,
    insert_collection,
    insert_payment,
    insert_refunded,
    insert_sold,
    insert_terms,
    named,
    payment,
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
        assert (
            bank["expected"][TEST_CURRENCY] == sold.fee
        )  # received the deposit and fee, paid out the deposit
        assert sold.store_id not in named(result, "store_settlement", "differing", "store_id")
        assert sold.centre_id not in named(result, "centre_settlement", "differing", "centre_id")


async def test_a_payment_the_ledger_never_posted_is_named_by_the_bank_and_the_store(
    pool, streams_pool, ledger_pool, clean
):
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


async def test_money_through_the_bank_that_no_payment_explains_is_named(
    pool, streams_pool, ledger_pool, clean
):
    sold = battery()
    async with streams_pool.acquire() as connection:
        await insert_sold(connection, sold)
        await insert_refunded(connection, sold)
        await ask(connection, [sold.sale(), sold.refund()])
    await post(ledger_pool, [sold.sale(), sold.refund()])
    since = await _starting_run(ledger_pool)
    _, paid = payment("centre", sold.centre_id, 700)
    await post(
        ledger_pool, [paid]
    )  # posted by a broken producer: no payment recorded, not asked by the scheme
    for mode, result in (await _runs(pool, ledger_pool, since)).items():
        bank = check(result, "bank_account")
        assert not bank["ok"], mode
        assert bank["details"]["difference"][TEST_CURRENCY] == -700
        assert sold.centre_id in named(result, "centre_settlement", "differing", "centre_id")
        assert paid.posting_key in named(result, "ledger_traced_to_scheme", "untraced", "posting_key")


# -- handling fees ------------------------------------------------------------


async def _collected_with_fee(streams_pool, ledger_pool, terms_fee: int, earned: int, posted: int | None):
    """A sold battery (sku EB-500, the test currency) collected under terms with `terms_fee`: the collection
    earned `earned`, and the scheme asked, and the ledger posted, `posted` (None: no posting)."""
    sold = battery()
    async with streams_pool.acquire() as connection:
        await insert_terms(connection, "EB-500", terms_fee)
        await insert_sold(connection, sold)
        await ask(connection, [sold.sale()])
    await post(ledger_pool, [sold.sale()])
    async with streams_pool.acquire() as connection:
        collection = await insert_collection(connection, sold, earned)
        postings = [] if posted is None else [handling_fee_posting(collection, sold, posted)]
        await ask(connection, postings)
    await post(ledger_pool, postings)
    return sold, collection


async def test_handling_fees_as_the_terms_say_reconcile(pool, streams_pool, ledger_pool, clean):
    since = await _starting_run(ledger_pool)
    sold, collection = await _collected_with_fee(streams_pool, ledger_pool, 150, 150, 150)
    for mode, result in (await _runs(pool, ledger_pool, since)).items():
        assert str(collection) not in named(result, "handling_fees_match_terms", "differing", "collection"), (
            mode
        )
        fund = check(result, "recycling_fund")
        assert fund["details"]["handling_fees"][TEST_CURRENCY] == 150, mode
        assert TEST_CURRENCY not in fund["details"]["difference"], mode
        assert sold.centre_id not in named(result, "centre_settlement", "differing", "centre_id"), mode


async def test_a_handling_fee_other_than_the_terms_is_named(pool, streams_pool, ledger_pool, clean):
    since = await _starting_run(ledger_pool)
    _, collection = await _collected_with_fee(streams_pool, ledger_pool, 150, 100, 100)
    for mode, result in (await _runs(pool, ledger_pool, since)).items():
        differing = check(result, "handling_fees_match_terms")["details"]["differing"]["items"]
        found = next(item for item in differing if item["collection"] == str(collection))
        assert (found["earned"], found["terms_fee"], found["posted"]) == (100, 150, 100), mode
        assert result["status"] == "discrepancies"


async def test_a_handling_fee_never_asked_of_the_ledger_is_named_with_the_fund_and_the_centre(
    pool, streams_pool, ledger_pool, clean
):
    since = await _starting_run(ledger_pool)
    sold, collection = await _collected_with_fee(streams_pool, ledger_pool, 150, 150, None)
    for mode, result in (await _runs(pool, ledger_pool, since)).items():
        assert str(collection) in named(result, "handling_fees_match_terms", "differing", "collection"), mode
        assert check(result, "recycling_fund")["details"]["difference"][TEST_CURRENCY] == 150, mode
        assert sold.centre_id in named(result, "centre_settlement", "differing", "centre_id"), mode


async def test_terms_changed_after_a_collection_name_it_in_an_incremental_run_too(
    pool, streams_pool, ledger_pool, clean
):
    _, collection = await _collected_with_fee(streams_pool, ledger_pool, 150, 150, 150)
    since = await _starting_run(ledger_pool)
    await streams_pool.execute(
        "UPDATE scheme.terms SET handling_fee = 175 WHERE sku = 'EB-500' AND currency = $1", TEST_CURRENCY
    )
    for mode, result in (await _runs(pool, ledger_pool, since)).items():
        assert str(collection) in named(result, "handling_fees_match_terms", "differing", "collection"), mode
