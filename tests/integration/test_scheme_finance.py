"""Contract 8.1, closing the money cycle: finance's events through the real Kafka and PostgreSQL."""
from __future__ import annotations

import pytest

from tests.conftest import unique
from tests.integration.scheme import Scheme


@pytest.fixture
def scheme(producer, pool):
    return Scheme(producer, pool)


async def _stored_terms(scheme: Scheme, sku: str) -> list[tuple]:
    rows = await scheme.pool.fetch(
        "SELECT effective_from::text AS effective_from, deposit, recycling_fee, handling_fee FROM scheme.terms "
        "WHERE sku = $1 ORDER BY effective_from", sku)
    return [tuple(row.values()) for row in rows]


async def test_terms_keep_their_handling_fee_and_terms_without_one_earn_none(scheme):
    sku, other = unique("SKU"), unique("SKU")
    await scheme.applied(await scheme.terms(sku, 5000, 800, "2026-01-01T00:00:00Z", handling_fee=150))
    await scheme.applied(await scheme.terms(other, 5000, 800, "2026-01-01T00:00:00Z"))
    assert await _stored_terms(scheme, sku) == [("2026-01-01 00:00:00+00", 5000, 800, 150)]
    assert await _stored_terms(scheme, other) == [("2026-01-01 00:00:00+00", 5000, 800, 0)]


async def test_terms_published_again_for_the_same_date_replace_the_handling_fee(scheme):
    sku = unique("SKU")
    await scheme.applied(await scheme.terms(sku, 5000, 800, "2026-01-01T00:00:00Z", handling_fee=150))
    await scheme.applied(await scheme.terms(sku, 5000, 800, "2026-01-01T00:00:00Z", handling_fee=90))
    await scheme.applied(await scheme.terms(sku, 5000, 800, "2026-06-01T00:00:00Z", handling_fee=200))
    assert [fee for *_, fee in await _stored_terms(scheme, sku)] == [90, 200]


async def test_a_negative_handling_fee_is_a_schema_violation_and_stores_nothing(scheme):
    sku = unique("SKU")
    await scheme.rejected(await scheme.terms(sku, 5000, 800, handling_fee=-1), "schema_violation")
    assert await _stored_terms(scheme, sku) == []
