"""Money that would not fit: each amount is at most 2^63-1 minor units (a PostgreSQL bigint), and so is what
one sale debits its store (every item's deposit plus recycling fee). A sale beyond it is refused as a
`schema_violation` naming `data.items` and the rule, changes nothing, and the events after it apply. Totals
are not bounded: sales that are each within it, applied in one batch, sum beyond a bigint and still apply and
reconcile, and a release whose deposits sum beyond one journal line's bound is posted in parts, each within
it. These tests share the suite's database: every later reconciliation, balance and statement reads their
totals (each in a currency of its own)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import string
from datetime import UTC, datetime, timedelta

import pytest

from contracts import topics
from contracts.types import MONEY_MINOR_UNITS_MAX
from services.ledger.service_layer import reconcile
from streams.domain.postings import release_key
from tests.conftest import envelope, unique, wait_for
from tests.integration.scheme import EUR, Scheme, item
from tests.integration.test_gateway_support import bearer, gateway, gateway_url, http, new_key  # noqa: F401

MAX = MONEY_MINOR_UNITS_MAX


@pytest.fixture
def scheme(producer, pool):
    return Scheme(producer, pool)


def a_currency() -> str:
    """Amounts near the limit in a currency of their own, so no other test's totals share them: a code
    starting with Q, which no currency the other tests use does (ISO 4217 has only QAR)."""
    while (code := "Q" + "".join(random.choices(string.ascii_uppercase, k=2))) == "QAR":
        pass
    return code


def sale_event(scheme: Scheme, items: list[dict], currency: str, at: str | None = None) -> dict:
    data = {"sale_id": unique("S"), "store_id": scheme.store, "currency": currency, "items": items}
    return envelope("sale.recorded", "pos", scheme.store, data, occurred_at=at)


async def send_together(scheme: Scheme, events: list[dict], key: str) -> None:
    """One after the other on one partition, in one request: the streams read them as one batch."""
    topic = topics.TOPIC_OF_TYPE[events[0]["type"]]
    sent = [
        await scheme.producer.send(topic, json.dumps(event).encode(), key=key.encode()) for event in events
    ]
    await asyncio.gather(*sent)


async def assert_refused_naming_the_rule(scheme: Scheme, topic_reader, event: dict) -> None:
    async with topic_reader(topics.REJECTIONS) as rejections:
        await scheme.emit(event)
        await scheme.rejected(event, "schema_violation")
        rejected = await rejections.find(lambda m: m["data"]["rejected_event_id"] == event["event_id"])
    message = rejected["data"]["message"]
    assert "data.items" in message and f"at most {MAX} minor units" in message, message


async def assert_nothing_changed(scheme: Scheme, event: dict) -> None:
    sale_id = event["data"]["sale_id"]
    assert await scheme.pool.fetchval("SELECT count(*) FROM scheme.sales WHERE sale_id = $1", sale_id) == 0
    serials = [i["serial"] for i in event["data"]["items"]]
    batteries = "SELECT count(*) FROM scheme.batteries WHERE serial = ANY($1)"
    assert await scheme.pool.fetchval(batteries, serials) == 0
    assert (
        await scheme.pool.fetchval(
            "SELECT count(*) FROM scheme.postings WHERE posting_key LIKE $1", f"%:{sale_id}:%"
        )
        == 0
    )


async def assert_balanced(pool) -> None:
    result = await reconcile(pool)
    assert result["status"] == "balanced", [c for c in result["checks"] if not c["ok"]]


async def store_debits(scheme: Scheme, currency: str) -> int:
    """What the ledger holds on the store's clearing account in the currency, summed without a bigint."""

    async def posted():
        return await scheme.pool.fetchval(
            "SELECT sum(debit)::text FROM ledger.lines WHERE account = $1 AND currency = $2",
            f"clearing:store:{scheme.store}",
            currency,
        )

    return int(await wait_for(posted))


async def an_ordinary_sale_applies(scheme: Scheme, currency: str) -> str:
    """A sale of one battery (deposit 5000, fee 800) sent and applied; its serial."""
    serial = unique("BAT")
    sale = sale_event(scheme, [item(serial, deposit=5000, fee=800)], currency)
    await scheme.emit(sale)
    await scheme.applied(sale)
    return serial


async def test_a_sale_whose_item_deposit_plus_fee_exceeds_the_limit_is_refused_and_the_next_applies(
    scheme, topic_reader, pool
):
    currency = EUR
    over = sale_event(scheme, [item(unique("BAT"), deposit=MAX, fee=MAX)], currency)
    await assert_refused_naming_the_rule(scheme, topic_reader, over)
    await assert_nothing_changed(scheme, over)

    serial = await an_ordinary_sale_applies(scheme, currency)
    assert (await scheme.battery(serial))["deposit_charged"] == 5000
    assert await store_debits(scheme, currency) == 5800
    await assert_balanced(pool)


async def test_a_sale_whose_items_together_exceed_the_limit_is_refused_and_the_next_applies(
    scheme, topic_reader, pool
):
    currency = EUR
    half = MAX // 2
    over = sale_event(
        scheme, [item(unique("BAT"), deposit=half, fee=1), item(unique("BAT"), deposit=half, fee=1)], currency
    )
    await assert_refused_naming_the_rule(scheme, topic_reader, over)
    await assert_nothing_changed(scheme, over)

    serial = await an_ordinary_sale_applies(scheme, currency)
    assert (await scheme.battery(serial))["state"] == "in_use"
    await assert_balanced(pool)


async def test_sales_of_one_store_each_within_the_limit_summing_beyond_it_in_one_batch_all_apply(
    scheme, pool
):
    """Each sale fits; the batch's (and then the account's) total on the store's clearing does not fit a
    bigint: every sale applies, the ledger posts each, a payment to the store after them applies too."""
    currency = a_currency()
    amounts = [(MAX - 1, 1), (MAX // 2, MAX // 3), (MAX // 4, 0)]
    sales = [sale_event(scheme, [item(unique("BAT"), deposit=d, fee=f)], currency) for d, f in amounts]
    await send_together(scheme, sales, key=scheme.store)
    for sale in sales:
        await scheme.applied(sale)
    expected = sum(d + f for d, f in amounts)
    assert expected > MAX  # the case is what its name says

    async def all_posted():
        return await store_debits(scheme, currency) == expected or None

    await wait_for(all_posted)
    payment = await scheme.payment("store", scheme.store, 1000, currency=currency)
    await scheme.applied(payment)
    await assert_balanced(pool)


async def test_a_release_whose_deposits_sum_beyond_the_limit_keeps_the_books_together(scheme, pool):
    """Each deposit fits, their total does not fit one journal line: the release applies, posted as as few
    entries as keep each within the bound, each battery traceable to the entry that moved its deposit, the
    entries together moving exactly what the scheme released; the books reconcile."""
    currency = a_currency()
    sold = "2023-03-01T10:00:00+00:00"
    deposits = [MAX - 1, MAX - 2, 3]
    serials = [unique("BAT") for _ in deposits]
    for serial, deposit in zip(serials, deposits):
        sale = sale_event(scheme, [item(serial, deposit=deposit, fee=0)], currency, sold)
        await scheme.emit(sale)
        await scheme.applied(sale)
    release_id = unique("R")
    data = {"release_id": release_id, "currency": currency, "sold_before": "2024-01-01T00:00:00+00:00"}
    release = envelope("deposits.released", "finance", "finance", data)
    await scheme.emit(release, key=currency)
    await scheme.applied(release)
    assert sum(deposits) > MAX  # the case is what its name says

    for serial in serials:
        assert (await scheme.battery(serial))["deposit_released"] is True
    rows = await pool.fetch(
        "SELECT serial, amount, part FROM scheme.released_deposits WHERE release_id = $1", release_id
    )
    released = {r["serial"]: (r["amount"], r["part"]) for r in rows}
    assert {serial: amount for serial, (amount, _) in released.items()} == dict(zip(serials, deposits))
    parts = sorted({part for _, part in released.values()})
    assert parts == list(range(1, len(parts) + 1)) and len(parts) > 1
    keys = {part: release_key(release_id, part) for part in parts}

    async def all_posted():
        rows = await pool.fetch(
            "SELECT e.posting_key, l.account, l.debit::text, l.credit::text FROM ledger.entries e "
            "JOIN ledger.lines l USING (entry_id) WHERE e.posting_key = ANY($1)",
            list(keys.values()),
        )
        return rows if len({r["posting_key"] for r in rows}) == len(keys) else None

    lines = await wait_for(all_posted)
    for part, key in keys.items():
        moved = sum(amount for amount, p in released.values() if p == part)
        assert 0 < moved <= MAX
        assert sorted(
            (r["account"], int(r["debit"]), int(r["credit"])) for r in lines if r["posting_key"] == key
        ) == [
            ("liability:deposits", moved, 0),
            ("reserve:unclaimed_deposits", 0, moved),
        ]
    await assert_balanced(pool)


async def test_totals_beyond_a_bigint_are_served_as_exact_integers_in_json_and_csv(
    scheme, pool, http, new_key
):
    """A store's balance beyond 2^63-1 (two sales, each within it): the balances and the settlement statement
    give it, over HTTP, as the exact integer of minor units, in JSON and in CSV."""
    currency = a_currency()
    amounts = [(MAX - 7, 5), (MAX // 3, 11)]
    for deposit, fee in amounts:
        sale = sale_event(scheme, [item(unique("BAT"), deposit=deposit, fee=fee)], currency)
        await scheme.emit(sale)
        await scheme.applied(sale)
    expected = sum(d + f for d, f in amounts)
    assert expected > MAX

    async def all_posted():
        return await store_debits(scheme, currency) == expected or None

    await wait_for(all_posted)
    key = bearer(await new_key("finance", unique("finance")))
    account = f"clearing:store:{scheme.store}"

    balances = await http.get("/v1/finance/balances", headers=key)
    assert balances.status_code == 200, balances.text
    [row] = [b for b in balances.json()["balances"] if (b["account"], b["currency"]) == (account, currency)]
    assert (row["debit"], row["credit"]) == (expected, 0)
    assert f'"debit":{expected},' in balances.text.replace(" ", "")  # a JSON integer, not a float or a string
    as_csv = await http.get("/v1/finance/balances", headers={**key, "Accept": "text/csv"})
    [line] = [
        r
        for r in csv.DictReader(io.StringIO(as_csv.text))
        if r["account"] == account and r["currency"] == currency
    ]
    assert (line["debit"], line["credit"]) == (str(expected), "0")

    today = datetime.now(UTC).date()
    period = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=2)).isoformat()}
    statement = await http.get("/v1/finance/settlement", params=period, headers=key)
    assert statement.status_code == 200, statement.text
    [mine] = [
        r
        for r in statement.json()["statements"]
        if r["counterparty"] == {"kind": "store", "id": scheme.store} and r["currency"] == currency
    ]
    assert (mine["opening"], mine["charges"], mine["payments"], mine["closing"]) == (0, expected, 0, expected)
    await assert_balanced(pool)
