"""Contract 8.1, closing the money cycle: finance's events through the real Kafka and PostgreSQL."""

from __future__ import annotations

import json
import uuid

import pytest

from contracts import topics
from tests.conftest import envelope, send, unique, wait_for
from tests.integration.scheme import EUR, Scheme, item, lines_of
from tests.integration.test_gateway_support import (  # noqa: F401
    bearer,
    carrying,
    end_offsets,
    gateway,
    gateway_url,
    http,
    messages_since,
    new_key,
)


@pytest.fixture
def scheme(producer, pool):
    return Scheme(producer, pool)


async def _stored_terms(scheme: Scheme, sku: str) -> list[tuple]:
    rows = await scheme.pool.fetch(
        "SELECT effective_from::text AS effective_from, deposit, recycling_fee, handling_fee"
        " FROM scheme.terms WHERE sku = $1 ORDER BY effective_from",
        sku,
    )
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


# -- payment.recorded ---------------------------------------------------------


async def _payments(scheme: Scheme, payment_id: str) -> list[tuple]:
    rows = await scheme.pool.fetch(
        "SELECT counterparty_kind, counterparty_id, amount, currency, value_date::text, reference, excess "
        "FROM scheme.payments WHERE payment_id = $1",
        payment_id,
    )
    return [tuple(row.values()) for row in rows]


async def _overpayment(scheme: Scheme, payment_id: str) -> dict | None:
    row = await scheme.pool.fetchrow(
        "SELECT details FROM scheme.discrepancies WHERE kind = 'overpayment' AND subject = $1", payment_id
    )
    return (
        None
        if row is None
        else (json.loads(row["details"]) if isinstance(row["details"], str) else row["details"])
    )


async def _in_ledger(scheme: Scheme, posting_key: str) -> set[tuple]:
    """The lines the ledger posted for this posting key, once it has."""

    async def lines():
        return await scheme.pool.fetch(
            "SELECT l.account, l.debit, l.credit, l.currency"
            " FROM ledger.entries e JOIN ledger.lines l USING (entry_id) WHERE e.posting_key = $1",
            posting_key,
        )

    return {tuple(row.values()) for row in await wait_for(lines)}


async def _sold(scheme: Scheme, deposit: int = 5000, fee: int = 800) -> str:
    """A battery of a sku of its own (no terms: its collection earns no handling fee, whatever other tests
    publish for the usual sku)."""
    serial = unique("BAT")
    await scheme.applied(await scheme.sale([item(serial, deposit=deposit, fee=fee, sku=unique("SKU"))]))
    return serial


async def _recycled(scheme: Scheme, cost: int) -> None:
    serial = await _sold(scheme)
    await scheme.applied(await scheme.collect(serial))
    lot = await scheme.dispatch([serial])
    await scheme.applied(lot)
    await scheme.applied(await scheme.receive(lot["data"]["lot_id"], [serial]))
    await scheme.applied(await scheme.recover(lot["data"]["lot_id"], cost=cost))


async def test_a_store_payment_debits_the_bank_and_credits_the_store_clearing(scheme):
    await _sold(scheme, 5000, 800)
    payment = await scheme.payment("store", scheme.store, 5800)
    await scheme.applied(payment)
    payment_id = payment["data"]["payment_id"]
    assert lines_of((await scheme.postings(payment_id))[f"payment:{payment_id}"]) == {
        ("bank:scheme", 5800, 0, EUR),
        (f"clearing:store:{scheme.store}", 0, 5800, EUR),
    }
    assert await _in_ledger(scheme, f"payment:{payment_id}") == {
        ("bank:scheme", 5800, 0, EUR),
        (f"clearing:store:{scheme.store}", 0, 5800, EUR),
    }
    assert await _payments(scheme, payment_id) == [
        ("store", scheme.store, 5800, EUR, "2026-11-30", "SEPA 8812", 0)
    ]
    assert await _overpayment(scheme, payment_id) is None


async def test_a_payment_to_a_centre_debits_its_clearing_and_credits_the_bank(scheme):
    serial = await _sold(scheme, 5000, 800)
    await scheme.applied(await scheme.collect(serial))  # the scheme owes the centre the 5000 it refunded
    payment = await scheme.payment("centre", scheme.centre, 3000)
    await scheme.applied(payment)
    payment_id = payment["data"]["payment_id"]
    assert lines_of((await scheme.postings(payment_id))[f"payment:{payment_id}"]) == {
        (f"clearing:centre:{scheme.centre}", 3000, 0, EUR),
        ("bank:scheme", 0, 3000, EUR),
    }
    assert await _in_ledger(scheme, f"payment:{payment_id}") == {
        (f"clearing:centre:{scheme.centre}", 3000, 0, EUR),
        ("bank:scheme", 0, 3000, EUR),
    }
    assert await _overpayment(scheme, payment_id) is None


async def test_a_payment_to_the_recycler_debits_its_payable_and_credits_the_bank(scheme):
    await _recycled(scheme, cost=6100)
    payment = await scheme.payment("recycler", scheme.recycler, 6100)
    await scheme.applied(payment)
    payment_id = payment["data"]["payment_id"]
    assert lines_of((await scheme.postings(payment_id))[f"payment:{payment_id}"]) == {
        (f"payable:recycler:{scheme.recycler}", 6100, 0, EUR),
        ("bank:scheme", 0, 6100, EUR),
    }
    assert await _in_ledger(scheme, f"payment:{payment_id}") == {
        (f"payable:recycler:{scheme.recycler}", 6100, 0, EUR),
        ("bank:scheme", 0, 6100, EUR),
    }
    assert await _overpayment(scheme, payment_id) is None


async def test_an_overpayment_is_posted_in_full_and_opens_its_excess(scheme):
    await _sold(scheme, 5000, 800)  # the store owes 5800
    first = await scheme.payment("store", scheme.store, 7000)
    await scheme.applied(first)
    first_id = first["data"]["payment_id"]
    assert lines_of((await scheme.postings(first_id))[f"payment:{first_id}"]) == {
        ("bank:scheme", 7000, 0, EUR),
        (f"clearing:store:{scheme.store}", 0, 7000, EUR),
    }
    assert await _in_ledger(scheme, f"payment:{first_id}") == {
        ("bank:scheme", 7000, 0, EUR),
        (f"clearing:store:{scheme.store}", 0, 7000, EUR),
    }
    assert await _overpayment(scheme, first_id) == {
        "payment_id": first_id,
        "counterparty": {"kind": "store", "id": scheme.store},
        "currency": EUR,
        "amount": 7000,
        "owed": 5800,
        "excess": 1200,
    }
    assert (await _payments(scheme, first_id))[0][-1] == 1200
    second = await scheme.payment("store", scheme.store, 100)  # it owes nothing now: all of it is excess
    await scheme.applied(second)
    assert (await _overpayment(scheme, second["data"]["payment_id"]))["excess"] == 100


async def test_a_payment_to_a_centre_above_what_it_is_owed_opens_the_excess(scheme):
    serial = await _sold(scheme, 5000, 800)
    await scheme.applied(await scheme.collect(serial))
    payment = await scheme.payment("centre", scheme.centre, 6000)
    await scheme.applied(payment)
    details = await _overpayment(scheme, payment["data"]["payment_id"])
    assert (details["owed"], details["excess"]) == (5000, 1000)


async def test_what_is_owed_in_one_currency_does_not_cover_a_payment_in_another(scheme):
    await _sold(scheme, 5000, 800)
    payment = await scheme.payment("store", scheme.store, 500, currency="USD")
    await scheme.applied(payment)
    details = await _overpayment(scheme, payment["data"]["payment_id"])
    assert (details["currency"], details["owed"], details["excess"]) == ("USD", 0, 500)


async def test_a_payment_sees_the_one_applied_before_it(scheme, producer):
    await _sold(scheme, 5000, 800)
    first, second = (
        envelope(
            "payment.recorded",
            "finance",
            "finance-1",
            {
                "payment_id": unique("P"),
                "counterparty": {"kind": "store", "id": scheme.store},
                "amount": 4000,
                "currency": EUR,
                "value_date": "2026-11-30",
            },
        )
        for _ in range(2)
    )
    for event in (first, second):  # under one key: one partition, in order (in one batch or two)
        await send(producer, topics.FINANCE, scheme.store, event)
    await scheme.applied(first)
    await scheme.applied(second)
    assert await _overpayment(scheme, first["data"]["payment_id"]) is None
    assert (await _overpayment(scheme, second["data"]["payment_id"]))["excess"] == 4000 + 4000 - 5800


async def test_a_payment_id_used_by_another_event_is_a_duplicate_payment_and_changes_nothing(scheme):
    await _sold(scheme, 5000, 800)
    first = await scheme.payment("store", scheme.store, 1000)
    await scheme.applied(first)
    payment_id = first["data"]["payment_id"]
    again = await scheme.payment("store", scheme.store, 2000, payment_id=payment_id)
    await scheme.rejected(again, "duplicate_payment")
    assert [row[2] for row in await _payments(scheme, payment_id)] == [1000]
    assert list(await scheme.postings(payment_id)) == [f"payment:{payment_id}"]
    assert await _overpayment(scheme, payment_id) is None


async def test_the_same_payment_event_twice_is_applied_once(scheme):
    await _sold(scheme, 5000, 800)
    payment = await scheme.payment("store", scheme.store, 9000)
    await scheme.applied(payment)
    await scheme.emit(payment)  # a replay: same event id, same content
    marker = await scheme.payment("store", scheme.store, 1)  # same key, after it: the replay was read by then
    await scheme.applied(marker)
    payment_id = payment["data"]["payment_id"]
    assert len(await _payments(scheme, payment_id)) == 1
    assert list(await scheme.postings(payment_id)) == [f"payment:{payment_id}"]
    count = await scheme.pool.fetchval(
        "SELECT count(*) FROM scheme.discrepancies WHERE kind = 'overpayment' AND subject = $1", payment_id
    )
    assert count == 1


async def test_a_payment_over_http_with_a_finance_key_goes_to_the_finance_topic_and_is_applied(
    scheme, http, settings, new_key
):
    await _sold(scheme, 5000, 800)
    finance = unique("fin")
    key = await new_key("finance", finance)
    event = envelope(
        "payment.recorded",
        "finance",
        finance,
        {
            "payment_id": unique("P"),
            "counterparty": {"kind": "store", "id": scheme.store},
            "amount": 5800,
            "currency": EUR,
            "value_date": "2026-11-30",
            "reference": "SEPA 8812",
        },
    )
    before = await end_offsets(settings, topics.FINANCE)
    response = await http.post("/v1/events", json=event, headers=bearer(key))
    assert response.status_code == 202, response.text
    [message] = carrying(await messages_since(settings, before), event["event_id"])
    assert (message.topic, message.key) == (topics.FINANCE, event["data"]["payment_id"].encode())
    await scheme.applied(event)
    payment_id = event["data"]["payment_id"]
    assert lines_of((await scheme.postings(payment_id))[f"payment:{payment_id}"]) == {
        ("bank:scheme", 5800, 0, EUR),
        (f"clearing:store:{scheme.store}", 0, 5800, EUR),
    }


async def test_a_key_that_is_not_finance_may_not_record_a_payment(scheme, http, new_key):
    key = await new_key("pos", scheme.store)
    event = envelope(
        "payment.recorded",
        "pos",
        scheme.store,
        {
            "payment_id": unique("P"),
            "counterparty": {"kind": "store", "id": scheme.store},
            "amount": 1,
            "currency": EUR,
            "value_date": "2026-11-30",
        },
    )
    response = await http.post("/v1/events", json=event, headers=bearer(key))
    assert response.status_code == 403, response.text


# -- handling fees ------------------------------------------------------------

SOLD_AT, FIRST_TERMS, SECOND_TERMS = "2026-09-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-10-01T00:00:00Z"


async def _sold_at(scheme: Scheme, sku: str, contract: str = "deposit", at: str = SOLD_AT) -> str:
    serial = unique("BAT")
    data = {
        "sale_id": unique("S"),
        "store_id": scheme.store,
        "currency": EUR,
        "items": [item(serial, deposit=0 if contract == "lease" else 5000, sku=sku, contract=contract)],
    }
    await scheme.applied(
        await scheme.emit(envelope("sale.recorded", "pos", scheme.store, data, occurred_at=at))
    )
    return serial


async def _collected_at(scheme: Scheme, serial: str, at: str) -> dict:
    data = {
        "collection_id": unique("C"),
        "centre_id": scheme.centre,
        "serial": serial,
        "condition": "functional",
    }
    event = await scheme.emit(
        envelope("collection.logged", "return_centre", scheme.centre, data, occurred_at=at)
    )
    await scheme.applied(event)
    return event


async def _fee_of(scheme: Scheme, collection: dict) -> tuple:
    row = await scheme.pool.fetchrow(
        "SELECT handling_fee, handling_fee_currency, terms_effective_from::text FROM scheme.collections "
        "WHERE event_id = $1",
        uuid.UUID(collection["event_id"]),
    )
    return tuple(row.values())


def _fee_lines(scheme: Scheme, fee: int) -> set[tuple]:
    return {("fund:recycling", fee, 0, EUR), (f"clearing:centre:{scheme.centre}", 0, fee, EUR)}


async def test_a_collection_earns_the_handling_fee_of_the_terms_in_force_when_it_occurred(scheme):
    sku = unique("SKU")
    await scheme.applied(await scheme.terms(sku, 5000, 800, FIRST_TERMS, handling_fee=150))
    await scheme.applied(await scheme.terms(sku, 5000, 800, SECOND_TERMS, handling_fee=210))
    early, late = await _sold_at(scheme, sku), await _sold_at(scheme, sku)
    before = await _collected_at(scheme, early, "2026-09-15T00:00:00Z")  # the first terms were in force
    after = await _collected_at(scheme, late, "2026-10-15T00:00:00Z")  # the second ones
    for collection, fee, terms in ((before, 150, FIRST_TERMS), (after, 210, SECOND_TERMS)):
        assert await _fee_of(scheme, collection) == (fee, EUR, terms.replace("T", " ").replace("Z", "+00"))
        key = f"handling_fee:{collection['event_id']}"
        serial = collection["data"]["serial"]
        assert lines_of((await scheme.postings(serial))[key]) == _fee_lines(scheme, fee)
        assert await _in_ledger(scheme, key) == _fee_lines(scheme, fee)


async def test_a_lease_collected_earns_the_handling_fee_too(scheme):
    sku = unique("SKU")
    await scheme.applied(await scheme.terms(sku, 5000, 800, FIRST_TERMS, handling_fee=150))
    serial = await _sold_at(scheme, sku, contract="lease")
    collection = await _collected_at(scheme, serial, "2026-09-15T00:00:00Z")
    assert (await _fee_of(scheme, collection))[0] == 150
    assert lines_of((await scheme.postings(serial))[f"handling_fee:{collection['event_id']}"]) == _fee_lines(
        scheme, 150
    )


async def test_an_orphan_and_a_cancelled_sales_battery_taken_back_free_earn_none(scheme):
    sku = unique("SKU")
    await scheme.applied(await scheme.terms(sku, 5000, 800, FIRST_TERMS, handling_fee=150))
    cancelled = await _sold_at(scheme, sku)
    sale_id = (await scheme.battery(cancelled))["sale_id"]
    await scheme.applied(await scheme.cancel(sale_id, [cancelled]))
    for serial in (unique("OLD"), cancelled):
        collection = await _collected_at(scheme, serial, "2026-09-15T00:00:00Z")
        assert await _fee_of(scheme, collection) == (0, None, None)
        assert not [key for key in await scheme.postings(serial) if key.startswith("handling_fee:")]


async def test_terms_without_a_handling_fee_or_in_another_currency_earn_none(scheme):
    sku = unique("SKU")
    await scheme.applied(await scheme.terms(sku, 5000, 800, FIRST_TERMS))
    data = {
        "sku": sku,
        "deposit": 5000,
        "recycling_fee": 800,
        "currency": "USD",
        "effective_from": FIRST_TERMS,
        "handling_fee": 999,
    }
    await scheme.applied(await scheme.emit(envelope("terms.published", "finance", "finance-1", data)))
    collection = await _collected_at(scheme, await _sold_at(scheme, sku), "2026-09-15T00:00:00Z")
    assert await _fee_of(scheme, collection) == (0, None, None)


async def test_a_collection_replayed_earns_its_handling_fee_once(scheme):
    sku = unique("SKU")
    await scheme.applied(await scheme.terms(sku, 5000, 800, FIRST_TERMS, handling_fee=150))
    serial = await _sold_at(scheme, sku)
    collection = await _collected_at(scheme, serial, "2026-09-15T00:00:00Z")
    await scheme.emit(collection)  # the same event again
    marker = await scheme.collect(unique("OLD"))
    await scheme.applied(marker)
    fees = await scheme.pool.fetchval(
        "SELECT count(*) FROM scheme.collections WHERE serial = $1 AND handling_fee > 0", serial
    )
    assert fees == 1
    assert [key for key in await scheme.postings(serial) if key.startswith("handling_fee:")] == [
        f"handling_fee:{collection['event_id']}"
    ]


async def test_the_counter_is_told_the_handling_fee_the_collection_earned(scheme, http, new_key):
    sku = unique("SKU")
    await scheme.applied(await scheme.terms(sku, 5000, 800, FIRST_TERMS, handling_fee=150))
    serial = await _sold_at(scheme, sku)
    key = await new_key("return_centre", scheme.centre)
    data = {
        "collection_id": unique("C"),
        "centre_id": scheme.centre,
        "serial": serial,
        "condition": "functional",
    }
    event = envelope("collection.logged", "return_centre", scheme.centre, data)
    response = await http.post("/v1/events", json=event, headers={**bearer(key), "Prefer": "wait=10"})
    assert response.status_code == 200, response.text
    assert response.json()["outcome"]["handling_fee"] == 150
    read = await http.get(f"/v1/events/{event['event_id']}", headers=bearer(key))
    assert read.json()["outcome"]["handling_fee"] == 150


async def test_a_collection_settled_by_a_late_sale_earns_the_fee_as_if_the_sale_had_come_first(scheme):
    sku, serial = unique("SKU"), unique("BAT")
    await scheme.applied(await scheme.terms(sku, 5000, 800, FIRST_TERMS, handling_fee=150))
    collection = await _collected_at(scheme, serial, "2026-09-15T00:00:00Z")  # unknown yet: an orphan
    assert await _fee_of(scheme, collection) == (0, None, None)
    data = {
        "sale_id": unique("S"),
        "store_id": scheme.store,
        "currency": EUR,
        "items": [item(serial, sku=sku)],
    }
    await scheme.applied(
        await scheme.emit(envelope("sale.recorded", "pos", scheme.store, data, occurred_at=SOLD_AT))
    )
    late = await scheme.pool.fetchrow(
        "SELECT handling_fee, handling_fee_currency FROM scheme.late_sales WHERE collection_event_id = $1",
        uuid.UUID(collection["event_id"]),
    )
    assert tuple(late.values()) == (150, EUR)
    key = f"handling_fee:{collection['event_id']}"
    assert lines_of((await scheme.postings(serial))[key]) == _fee_lines(scheme, 150)
    assert await _in_ledger(scheme, key) == _fee_lines(scheme, 150)
