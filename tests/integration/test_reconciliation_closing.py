"""Contract 8.1's reconciliation checks catch injected faults, in a full run and in an incremental one.

Each test builds healthy XTS rows (a released deposit; a held item returned to its store), stores a full
run, shows its subject absent from the offenders, injects one fault, and asks an incremental run (from the
stored one) and a full run to name it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.ledger.service_layer import post, reconcile, run_reconciliation
from tests.conftest import unique
from tests.integration.ledger_support import (  # noqa: F401  (clean: a fixture)
    TEST_CURRENCY,
    ask,
    battery,
    check,
    clean,
    insert_sold,
    named,
    request,
)

RESERVE, LIABILITY = "reserve:unclaimed_deposits", "liability:deposits"


async def both_runs(pool, since) -> list[dict]:
    incremental = await reconcile(pool, since=since)
    assert incremental["scope"]["mode"] == "incremental"
    return [incremental, await reconcile(pool, mode="full")]


async def released_and_posted(streams_pool, ledger_pool):
    """A battery sold in XTS whose deposit a release moved to the reserve, in the scheme and the ledger."""
    sold = battery()
    release_id = unique("R")
    release = request(
        f"release:{release_id}",
        "deposit_release",
        release_id,
        [(LIABILITY, sold.deposit, 0), (RESERVE, 0, sold.deposit)],
    )
    async with streams_pool.acquire() as connection:
        await insert_sold(connection, sold)
        await connection.execute(
            "UPDATE scheme.batteries SET deposit_released = true WHERE serial = $1", sold.serial
        )
        await connection.execute(
            "INSERT INTO scheme.releases (release_id, event_id, currency, sold_before, occurred_at)"
            " VALUES ($1, $2, $3, now(), now())",
            release_id,
            uuid.uuid4(),
            TEST_CURRENCY,
        )
        await connection.execute(
            "INSERT INTO scheme.released_deposits (release_id, serial, amount, currency)"
            " VALUES ($1, $2, $3, $4)",
            release_id,
            sold.serial,
            sold.deposit,
            TEST_CURRENCY,
        )
        await ask(connection, [sold.sale(), release])
    await post(ledger_pool, [sold.sale(), release])
    return sold


async def test_a_release_undone_behind_the_schemes_back_breaks_the_reserve_and_the_liability(
    pool, streams_pool, ledger_pool, clean
):
    sold = await released_and_posted(streams_pool, ledger_pool)
    since, healthy = await run_reconciliation(ledger_pool, mode="full")
    for name in ("unclaimed_reserve", "deposit_liability"):
        assert TEST_CURRENCY not in check(healthy, name)["details"]["difference"], name

    await streams_pool.execute(
        "UPDATE scheme.batteries SET deposit_released = false WHERE serial = $1", sold.serial
    )

    for result in await both_runs(pool, since):
        reserve = check(result, "unclaimed_reserve")
        assert not reserve["ok"] and reserve["details"]["difference"][TEST_CURRENCY] == sold.deposit
        assert check(result, "deposit_liability")["details"]["difference"][TEST_CURRENCY] == -sold.deposit


async def test_a_refund_of_a_released_deposit_taken_from_the_liability_breaks_the_reserve(
    pool, streams_pool, ledger_pool, clean
):
    sold = await released_and_posted(streams_pool, ledger_pool)
    since, _ = await run_reconciliation(ledger_pool, mode="full")

    wrong = request(
        f"refund:{sold.serial}",
        "refund",
        sold.serial,  # from the liability, not from the reserve
        [(LIABILITY, sold.deposit, 0), (f"clearing:centre:{sold.centre_id}", 0, sold.deposit)],
    )
    async with streams_pool.acquire() as connection:
        await connection.execute(
            "UPDATE scheme.batteries SET state = 'collected', deposit_refunded = deposit_charged,"
            " history_length = 2,"
            " custodian_kind = 'return_centre', custodian_id = $2 WHERE serial = $1",
            sold.serial,
            sold.centre_id,
        )
        await connection.execute(
            "INSERT INTO scheme.custody_history VALUES ($1, 2, now(), $2, 'collection.logged', "
            "'customer', 'c-1', "
            "'return_centre', $3, 'collected')",
            sold.serial,
            uuid.uuid4(),
            sold.centre_id,
        )
        await connection.execute(
            "INSERT INTO scheme.refunds VALUES ($1, $2, $3, $4, $5, 'cash', NULL, $6, now())",
            uuid.uuid4(),
            sold.serial,
            sold.centre_id,
            sold.deposit,
            TEST_CURRENCY,
            uuid.uuid4(),
        )
        await ask(connection, [wrong])
    await post(ledger_pool, [wrong])

    for result in await both_runs(pool, since):
        assert check(result, "unclaimed_reserve")["details"]["difference"][TEST_CURRENCY] == sold.deposit
        assert check(result, "deposit_liability")["details"]["difference"][TEST_CURRENCY] == -sold.deposit


async def held_and_returned(streams_pool, ledger_pool, posted: bool = True) -> tuple[uuid.UUID, str, str]:
    """An XTS item held in suspense (its serial was in the market), resolved returned_to_store; its keys."""
    sold, store = battery(), unique("store")
    held_sale, held = unique("S"), 5800
    discrepancy_id = uuid.uuid4()
    suspense = request(
        f"suspense:{held_sale}:{sold.serial}",
        "sale_suspense",
        sold.serial,
        [(f"clearing:store:{store}", held, 0), (f"suspense:store:{store}", 0, held)],
    )
    back = request(
        f"suspense_return:{discrepancy_id}",
        "suspense_return",
        sold.serial,
        [(f"suspense:store:{store}", held, 0), (f"clearing:store:{store}", 0, held)],
    )
    now = datetime.now(UTC)
    async with streams_pool.acquire() as connection:
        await insert_sold(connection, sold)
        await connection.execute(
            "INSERT INTO scheme.sales VALUES ($1, $2, $3, $4, $5)",
            held_sale,
            store,
            TEST_CURRENCY,
            now,
            uuid.uuid4(),
        )
        await connection.execute(
            "INSERT INTO scheme.sale_items VALUES ($1, $2, 'EB-500', 'lmt', 'li-ion-nmc', 2.8, 5000, 800, "
            "'deposit', "
            "'returned_to_store')",
            held_sale,
            sold.serial,
        )
        await connection.execute(
            "INSERT INTO scheme.discrepancies (discrepancy_id, kind, subject, details, caused_by) "
            "VALUES ($1, 'serial_already_in_market', $2, $3, $4)",
            discrepancy_id,
            sold.serial,
            {"sale_id": held_sale, "store_id": store, "state": "in_use", "held_in_suspense": held},
            uuid.uuid4(),
        )
        await connection.execute(
            "INSERT INTO scheme.discrepancy_resolutions"
            " (discrepancy_id, resolution, note, event_id, resolved_at) "
            "VALUES ($1, 'returned_to_store', NULL, $2, now())",
            discrepancy_id,
            uuid.uuid4(),
        )
        await ask(connection, [sold.sale(), suspense] + ([back] if posted else []))
    await post(ledger_pool, [sold.sale(), suspense] + ([back] if posted else []))
    return discrepancy_id, store, back.posting_key


async def test_a_suspense_returned_twice_is_named(pool, streams_pool, ledger_pool, clean):
    discrepancy_id, store, key = await held_and_returned(streams_pool, ledger_pool)
    since, healthy = await run_reconciliation(ledger_pool, mode="full")
    assert str(discrepancy_id) not in named(
        healthy, "resolved_money_moved_once", "not_moved_once", "discrepancy_id"
    )

    twice = request(
        f"{key}:again",
        "suspense_return",
        "BAT-X",
        [(f"suspense:store:{store}", 5800, 0), (f"clearing:store:{store}", 0, 5800)],
    )
    await post(ledger_pool, [twice])

    for result in await both_runs(pool, since):
        assert not check(result, "resolved_money_moved_once")["ok"]
        assert twice.posting_key in named(
            result, "resolved_money_moved_once", "returned_without_resolution", "posting_key"
        )


async def test_a_resolution_whose_money_never_moved_is_named(pool, streams_pool, ledger_pool, clean):
    since, _ = await run_reconciliation(ledger_pool, mode="full")
    discrepancy_id, _, _ = await held_and_returned(streams_pool, ledger_pool, posted=False)

    for result in await both_runs(pool, since):
        wrong = check(result, "resolved_money_moved_once")["details"]["not_moved_once"]["items"]
        assert {"discrepancy_id": str(discrepancy_id), "problem": "not_moved"}.items() <= next(
            item for item in wrong if item["discrepancy_id"] == str(discrepancy_id)
        ).items()
        assert not check(result, "store_settlement")["ok"]


async def test_a_written_off_battery_that_is_not_lost_is_named(pool, streams_pool, ledger_pool, clean):
    sold = battery()
    discrepancy_id = uuid.uuid4()
    async with streams_pool.acquire() as connection:
        await insert_sold(connection, sold)
        await connection.execute(
            "INSERT INTO scheme.discrepancies (discrepancy_id, kind, subject, details, caused_by) "
            "VALUES ($1, 'missing_in_transit', $2, $3, $4)",
            discrepancy_id,
            sold.serial,
            {"lot_id": unique("L")},
            uuid.uuid4(),
        )
        await ask(connection, [sold.sale()])
    await post(ledger_pool, [sold.sale()])
    since, _ = await run_reconciliation(ledger_pool, mode="full")
    await streams_pool.execute(
        "INSERT INTO scheme.discrepancy_resolutions"
        " (discrepancy_id, resolution, note, event_id, resolved_at) "
        "VALUES ($1, 'written_off', NULL, $2, now())",
        discrepancy_id,
        uuid.uuid4(),
    )

    for result in await both_runs(pool, since):
        assert sold.serial in named(result, "resolved_money_moved_once", "written_off_not_lost", "serial")
