"""sale.recorded and sale.cancelled: every outcome and reason code of contract section 3."""

from __future__ import annotations

import pytest

from services.ledger.service_layer import reconcile
from tests.conftest import unique
from tests.integration.scheme import Scheme, item, lines_of


@pytest.fixture
def scheme(producer, pool):
    return Scheme(producer, pool)


async def test_a_sale_puts_each_battery_in_the_market_and_posts_deposit_and_fee(scheme):
    serial = unique("BAT")
    sale = await scheme.sale([item(serial, deposit=5000, fee=800)], customer_ref="c-9f2a")
    await scheme.applied(sale)
    battery = await scheme.battery(serial)
    assert (battery["state"], battery["contract"], battery["deposit_charged"]) == ("in_use", "deposit", 5000)
    assert (battery["custodian_kind"], battery["custodian_id"]) == ("customer", "c-9f2a")
    postings = await scheme.postings(serial)
    sale_id = sale["data"]["sale_id"]
    assert lines_of(postings[f"sale:{sale_id}:{serial}"]) == {
        (f"clearing:store:{scheme.store}", 5800, 0, "EUR"),
        ("liability:deposits", 0, 5000, "EUR"),
        ("fund:recycling", 0, 800, "EUR"),
    }


async def test_a_lease_sets_aside_only_the_fee(scheme):
    serial = unique("BAT")
    sale = await scheme.sale([item(serial, deposit=0, fee=900, contract="lease")])
    await scheme.applied(sale)
    assert (await scheme.battery(serial))["contract"] == "lease"
    [lines] = (await scheme.postings(serial)).values()
    assert lines_of(lines) == {
        (f"clearing:store:{scheme.store}", 900, 0, "EUR"),
        ("fund:recycling", 0, 900, "EUR"),
    }


async def test_a_lease_with_a_deposit_is_a_schema_violation(scheme):
    sale = await scheme.sale([item(unique("BAT"), deposit=100, contract="lease")])
    await scheme.rejected(sale, "schema_violation")


async def test_a_serial_already_in_the_market_is_held_in_suspense_and_the_other_items_apply(scheme):
    known, fresh = unique("BAT"), unique("BAT")
    await scheme.applied(await scheme.sale([item(known)]))
    second = await scheme.sale([item(known, deposit=4000, fee=700), item(fresh)])
    await scheme.applied(second)
    assert await scheme.discrepancies(known) == ["serial_already_in_market"]
    assert (await scheme.battery(fresh))["state"] == "in_use"
    assert (await scheme.battery(known))["deposit_charged"] == 5000  # the first sale's, untouched
    suspense = (await scheme.postings(known))[f"suspense:{second['data']['sale_id']}:{known}"]
    assert lines_of(suspense) == {
        (f"clearing:store:{scheme.store}", 4700, 0, "EUR"),
        (f"suspense:store:{scheme.store}", 0, 4700, "EUR"),
    }


async def test_amounts_that_differ_from_the_terms_are_charged_and_open_a_discrepancy(scheme):
    sku = unique("SKU")
    await scheme.applied(await scheme.terms(sku, deposit=5000, fee=800))
    differs, matches, lease = unique("BAT"), unique("BAT"), unique("BAT")
    sale = await scheme.sale(
        [
            item(differs, deposit=4500, sku=sku),
            item(matches, sku=sku),
            item(lease, deposit=0, fee=800, contract="lease", sku=sku),
        ]
    )
    await scheme.applied(sale)
    assert (await scheme.battery(differs))["deposit_charged"] == 4500
    assert await scheme.discrepancies(differs) == ["amount_differs_from_terms"]
    assert await scheme.discrepancies(matches) == []
    assert await scheme.discrepancies(lease) == []  # for a lease only the fee is compared


async def test_a_sku_without_terms_in_force_is_charged_without_discrepancy(scheme):
    sku, serial = unique("SKU"), unique("BAT")
    await scheme.applied(await scheme.terms(sku, 5000, 800, effective_from="2999-01-01T00:00:00Z"))
    await scheme.applied(await scheme.sale([item(serial, deposit=1, fee=1, sku=sku)]))
    assert await scheme.discrepancies(serial) == []


async def test_a_sale_id_recorded_twice_is_refused(scheme):
    sale_id = unique("S")
    await scheme.applied(await scheme.sale([item(unique("BAT"))], sale_id=sale_id))
    await scheme.rejected(await scheme.sale([item(unique("BAT"))], sale_id=sale_id), "duplicate_sale")


async def test_a_cancellation_reverses_deposit_and_fee_exactly(scheme):
    serial = unique("BAT")
    sale = await scheme.sale([item(serial)])
    await scheme.applied(sale)
    sale_id = sale["data"]["sale_id"]
    await scheme.applied(await scheme.cancel(sale_id, [serial]))
    assert (await scheme.battery(serial))["state"] == "cancelled"
    postings = await scheme.postings(serial)
    original, reversal = postings[f"sale:{sale_id}:{serial}"], postings[f"cancel:{sale_id}:{serial}"]
    assert lines_of(reversal) == {(a, c, d, cur) for a, d, c, cur in lines_of(original)}


async def test_cancelling_an_unknown_sale_is_refused(scheme):
    await scheme.rejected(await scheme.cancel(unique("S"), [unique("BAT")]), "unknown_sale")


async def test_cancelling_a_serial_not_in_the_sale_is_refused_and_changes_nothing(scheme):
    serial = unique("BAT")
    sale = await scheme.sale([item(serial)])
    await scheme.applied(sale)
    await scheme.rejected(
        await scheme.cancel(sale["data"]["sale_id"], [serial, unique("BAT")]), "serial_not_in_sale"
    )
    assert (await scheme.battery(serial))["state"] == "in_use"


async def test_cancelling_a_returned_battery_is_refused(scheme):
    serial = unique("BAT")
    sale = await scheme.sale([item(serial)])
    await scheme.applied(sale)
    await scheme.applied(await scheme.collect(serial))
    await scheme.rejected(await scheme.cancel(sale["data"]["sale_id"], [serial]), "already_returned")


async def test_a_cancelled_serial_sold_again_re_enters_the_market_and_reconciles_balanced(
    scheme, producer, pool
):
    """Contract section 3 and 8.2: sold, cancelled, sold again by another store, collected: the new sale
    counts."""
    serial, sku = unique("BAT"), unique("SKU")
    await scheme.applied(await scheme.terms(sku, deposit=5000, fee=800))
    first = await scheme.sale([item(serial, deposit=5000, fee=800, sku=sku)])
    await scheme.applied(first)
    await scheme.applied(await scheme.cancel(first["data"]["sale_id"], [serial]))
    assert (await scheme.battery(serial))["state"] == "cancelled"

    other = Scheme(producer, pool, centre=scheme.centre)
    again = await other.sale([item(serial, deposit=4000, fee=700, sku=sku)], customer_ref="c-2")
    await scheme.applied(again)
    sale_id = again["data"]["sale_id"]
    battery = await scheme.battery(serial)
    assert (
        battery["state"],
        battery["sale_id"],
        battery["store_id"],
        battery["deposit_charged"],
        battery["recycling_fee"],
        battery["custodian_id"],
    ) == ("in_use", sale_id, other.store, 4000, 700, "c-2")
    assert await scheme.discrepancies(serial) == ["amount_differs_from_terms"]  # checked as for any sale
    postings = await scheme.postings(serial)
    assert set(postings) == {
        f"sale:{first['data']['sale_id']}:{serial}",
        f"cancel:{first['data']['sale_id']}:{serial}",
        f"sale:{sale_id}:{serial}",
    }
    assert lines_of(postings[f"sale:{sale_id}:{serial}"]) == {
        (f"clearing:store:{other.store}", 4700, 0, "EUR"),
        ("liability:deposits", 0, 4000, "EUR"),
        ("fund:recycling", 0, 700, "EUR"),
    }
    assert (
        await pool.fetchval("SELECT status FROM scheme.sale_items WHERE sale_id = $1", sale_id) == "in_market"
    )
    # a cancellation of the first sale is refused: its item is already cancelled
    await scheme.rejected(await scheme.cancel(first["data"]["sale_id"], [serial]), "already_returned")

    await scheme.applied(await scheme.collect(serial))
    battery = await scheme.battery(serial)
    assert (battery["state"], battery["deposit_refunded"]) == ("collected", 4000)
    assert lines_of((await scheme.postings(serial))[f"refund:{serial}"]) == {
        ("liability:deposits", 4000, 0, "EUR"),
        (f"clearing:centre:{scheme.centre}", 0, 4000, "EUR"),
    }
    history = await pool.fetch(
        "SELECT event_type, state FROM scheme.custody_history WHERE serial = $1 ORDER BY seq", serial
    )
    assert [(h["event_type"], h["state"]) for h in history] == [
        ("sale.recorded", "in_use"),
        ("sale.cancelled", "cancelled"),
        ("sale.recorded", "in_use"),
        ("collection.logged", "collected"),
    ]

    result = await reconcile(pool)
    assert result["status"] == "balanced", [c for c in result["checks"] if not c["ok"]]
