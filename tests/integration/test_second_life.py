"""Contract 8.3, the write side: grading, countries, thresholds and recycling output kept as sent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.conftest import unique
from tests.integration.scheme import Scheme, item


@pytest.fixture
def scheme(producer, pool):
    return Scheme(producer, pool)


async def test_a_sales_country_and_a_collections_grade_and_country_are_kept(scheme, pool):
    serial = unique("BAT")
    sale = await scheme.sale([item(serial)], country="DE")
    await scheme.applied(sale)
    await scheme.applied(await scheme.collect(serial, state_of_health_pct=72, country="AT"))
    assert (
        await pool.fetchval("SELECT country FROM scheme.sales WHERE sale_id = $1", sale["data"]["sale_id"])
        == "DE"
    )
    row = await pool.fetchrow(
        "SELECT state_of_health_pct, country FROM scheme.collections WHERE serial = $1", serial
    )
    assert (row["state_of_health_pct"], row["country"]) == (72, "AT")


async def test_without_them_a_sale_and_a_collection_keep_none(scheme, pool):
    serial = unique("BAT")
    sale = await scheme.sale([item(serial)])
    await scheme.applied(sale)
    await scheme.applied(await scheme.collect(serial))
    assert (
        await pool.fetchval("SELECT country FROM scheme.sales WHERE sale_id = $1", sale["data"]["sale_id"])
        is None
    )
    row = await pool.fetchrow(
        "SELECT state_of_health_pct, country FROM scheme.collections WHERE serial = $1", serial
    )
    assert (row["state_of_health_pct"], row["country"]) == (None, None)


async def test_terms_keep_their_thresholds_or_the_defaults(scheme, pool):
    given, defaulted = unique("SKU"), unique("SKU")
    await scheme.applied(await scheme.terms(given, 5000, 800, reuse_min_pct=90, repurpose_min_pct=50))
    await scheme.applied(await scheme.terms(defaulted, 5000, 800))
    rows = {
        r["sku"]: (r["reuse_min_pct"], r["repurpose_min_pct"])
        for r in await pool.fetch(
            "SELECT sku, reuse_min_pct, repurpose_min_pct FROM scheme.terms WHERE sku = ANY($1)",
            [given, defaulted],
        )
    }
    assert rows == {given: (90, 50), defaulted: (85, 65)}


async def test_terms_published_again_for_the_same_date_replace_the_thresholds(scheme, pool):
    sku = unique("SKU")
    await scheme.applied(await scheme.terms(sku, 5000, 800, reuse_min_pct=90, repurpose_min_pct=50))
    await scheme.applied(await scheme.terms(sku, 5000, 800, reuse_min_pct=80, repurpose_min_pct=60))
    row = await pool.fetchrow("SELECT reuse_min_pct, repurpose_min_pct FROM scheme.terms WHERE sku = $1", sku)
    assert tuple(row) == (80, 60)


async def test_terms_with_repurpose_above_reuse_are_rejected_and_change_nothing(scheme, pool):
    sku = unique("SKU")
    await scheme.rejected(
        await scheme.terms(sku, 5000, 800, reuse_min_pct=70, repurpose_min_pct=71), "schema_violation"
    )
    assert await pool.fetchval("SELECT count(*) FROM scheme.terms WHERE sku = $1", sku) == 0


async def test_a_recovery_keeps_its_output_mass(scheme, pool):
    serial = unique("BAT")
    await scheme.applied(await scheme.collect(serial))
    lot = await scheme.dispatch([serial])
    await scheme.applied(lot)
    lot_id = lot["data"]["lot_id"]
    await scheme.applied(await scheme.receive(lot_id, [serial]))
    await scheme.applied(await scheme.recover(lot_id, output_mass_kg=71.25))
    assert await pool.fetchval(
        "SELECT output_mass_kg FROM scheme.recoveries WHERE lot_id = $1", lot_id
    ) == Decimal("71.25")


async def test_a_recovery_with_more_output_than_input_is_rejected(scheme, pool):
    serial = unique("BAT")
    await scheme.applied(await scheme.collect(serial))
    lot = await scheme.dispatch([serial])
    await scheme.applied(lot)
    lot_id = lot["data"]["lot_id"]
    await scheme.applied(await scheme.receive(lot_id, [serial]))
    await scheme.rejected(await scheme.recover(lot_id, output_mass_kg=99.6), "schema_violation")  # input 99.5
    assert await pool.fetchval("SELECT count(*) FROM scheme.recoveries WHERE lot_id = $1", lot_id) == 0
