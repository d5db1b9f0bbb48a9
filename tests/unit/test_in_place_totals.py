"""The totals of batteries and sale items a reconciliation run carries: a full run's sums, plus a window's
changes, give what a full run would sum (a currency or a store only while a row counts in it)."""

from __future__ import annotations

from services.ledger.domain import in_place_totals as totals


def test_changes_added_to_carried_totals_give_the_full_sums_and_drop_what_no_row_counts_in():
    carried = totals.battery_totals([["EUR", 3, 2, 10000, 1, 5000, 0], ["XTS", 1, 1, 5000, 0, 0, 0]])
    # one EUR battery released, the XTS battery removed, a first GBP battery sold
    changes = totals.battery_totals(
        [["EUR", 0, -1, -5000, 1, 5000, 0], ["XTS", -1, -1, -5000, 0, 0, 0], ["GBP", 1, 1, 4000, 0, 0, 0]]
    )
    now = totals.add(carried, changes)
    assert now == {"EUR": (3, 1, 5000, 2, 10000, 0), "GBP": (1, 1, 4000, 0, 0, 0)}
    assert totals.batteries(now) == 4
    assert totals.liability(now) == {"EUR": 5000, "GBP": 4000}
    assert totals.released(now) == ({"EUR": 10000}, {"EUR": 0})
    assert totals.battery_totals(totals.battery_json(now)) == now


def test_a_total_of_rows_worth_nothing_is_kept_apart_from_no_rows():
    worth_nothing = totals.battery_totals([["EUR", 1, 1, 0, 0, 0, 0]])  # a battery in use, deposit 0
    assert totals.liability(worth_nothing) == {"EUR": 0}
    assert totals.released(worth_nothing) == ({}, {})


def test_sale_items_owed_per_store_and_fees_in_market_per_currency():
    items = totals.add(
        totals.sale_item_totals([["s-1", "EUR", 2, 11600, 2, 1600], ["s-2", "EUR", 1, 5800, 0, 0]]),
        totals.sale_item_totals([["s-1", "EUR", -2, -11600, -2, -1600], ["s-2", "EUR", 0, 0, 1, 800]]),
    )
    assert items == {("s-2", "EUR"): (1, 5800, 1, 800)}  # every item of s-1 cancelled: s-1 is gone
    assert totals.owed(items) == {("s-2", "EUR"): 5800}
    assert totals.fees_in_market(items) == {"EUR": 800}
    assert totals.sale_item_totals(totals.sale_item_json(items)) == items


def test_a_battery_without_currency_is_counted():
    now = totals.battery_totals([[None, 2, 0, 0, 0, 0, 0], ["EUR", 1, 0, 0, 0, 0, 0]])
    assert totals.batteries(now) == 3 and totals.battery_json(now)[0][0] is None
