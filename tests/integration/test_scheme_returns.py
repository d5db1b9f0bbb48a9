"""collection.logged and custody.transferred: refunds, leases, orphans, custody."""

from __future__ import annotations

import pytest

from contracts import topics
from tests.conftest import unique
from tests.integration.scheme import Scheme, item, lines_of


@pytest.fixture
def scheme(producer, pool):
    return Scheme(producer, pool)


async def test_a_deposit_battery_collected_in_any_condition_is_refunded_in_full(scheme, topic_reader):
    serial = unique("BAT")
    await scheme.applied(await scheme.sale([item(serial, deposit=5000)]))
    async with topic_reader(topics.REFUNDS) as refunds:
        collection = await scheme.collect(
            serial, condition="hazardous", refund={"method": "bank_transfer", "payee_ref": "c-9f2a"}
        )
        await scheme.applied(collection)
        refund = await refunds.find(lambda m: isinstance(m, dict) and m["data"]["serial"] == serial)
    assert refund["type"] == "refund.instructed"
    assert {
        k: refund["data"][k] for k in ("amount", "currency", "method", "payee_ref", "centre_id", "caused_by")
    } == {
        "amount": 5000,
        "currency": "EUR",
        "method": "bank_transfer",
        "payee_ref": "c-9f2a",
        "centre_id": scheme.centre,
        "caused_by": collection["event_id"],
    }
    battery = await scheme.battery(serial)
    assert (battery["state"], battery["deposit_refunded"], battery["custodian_id"]) == (
        "collected",
        5000,
        scheme.centre,
    )
    assert lines_of((await scheme.postings(serial))[f"refund:{serial}"]) == {
        ("liability:deposits", 5000, 0, "EUR"),
        (f"clearing:centre:{scheme.centre}", 0, 5000, "EUR"),
    }


async def test_a_refund_without_method_defaults_to_cash(scheme, pool):
    serial = unique("BAT")
    await scheme.applied(await scheme.sale([item(serial)]))
    await scheme.applied(await scheme.collect(serial))
    assert await pool.fetchval("SELECT method FROM scheme.refunds WHERE serial = $1", serial) == "cash"


async def test_a_leased_battery_is_taken_back_without_refund(scheme, pool):
    serial = unique("BAT")
    await scheme.applied(await scheme.sale([item(serial, deposit=0, contract="lease")]))
    await scheme.applied(await scheme.collect(serial))
    assert (await scheme.battery(serial))["state"] == "collected"
    assert await pool.fetchval("SELECT count(*) FROM scheme.refunds WHERE serial = $1", serial) == 0
    assert (
        await pool.fetchval("SELECT outcome FROM scheme.collections WHERE serial = $1", serial)
        == "lease_closed"
    )


async def test_an_orphan_battery_is_taken_back_free(scheme, pool):
    serial = unique("OLD")
    await scheme.applied(await scheme.collect(serial, condition="defective"))
    battery = await scheme.battery(serial)
    assert (battery["state"], battery["contract"], battery["deposit_refunded"]) == ("collected", None, 0)
    assert (
        await pool.fetchval("SELECT outcome FROM scheme.collections WHERE serial = $1", serial)
        == "taken_back_free"
    )
    assert await scheme.postings(serial) == {}


async def test_a_battery_of_a_cancelled_sale_is_taken_back_free(scheme, pool):
    serial = unique("BAT")
    sale = await scheme.sale([item(serial)])
    await scheme.applied(sale)
    await scheme.applied(await scheme.cancel(sale["data"]["sale_id"], [serial]))
    await scheme.applied(await scheme.collect(serial))
    assert await pool.fetchval("SELECT count(*) FROM scheme.refunds WHERE serial = $1", serial) == 0


async def test_a_battery_collected_twice_is_refunded_once(scheme, pool):
    serial = unique("BAT")
    await scheme.applied(await scheme.sale([item(serial)]))
    await scheme.applied(await scheme.collect(serial))
    await scheme.rejected(await scheme.collect(serial), "already_returned")
    assert await pool.fetchval("SELECT count(*) FROM scheme.refunds WHERE serial = $1", serial) == 1


async def test_a_custody_transfer_changes_the_custodian_not_the_state(scheme):
    serial = unique("BAT")
    await scheme.applied(await scheme.sale([item(serial)]))
    await scheme.applied(await scheme.collect(serial))
    centre, haul = {"kind": "return_centre", "id": scheme.centre}, {"kind": "transporter", "id": "haul-3"}
    await scheme.applied(await scheme.transfer(serial, centre, haul))
    battery = await scheme.battery(serial)
    assert (battery["state"], battery["custodian_kind"], battery["custodian_id"]) == (
        "collected",
        "transporter",
        "haul-3",
    )
    history = await scheme.pool.fetch(
        "SELECT seq, event_type, to_id, state FROM scheme.custody_history WHERE serial = $1 ORDER BY seq",
        serial,
    )
    assert [(r["seq"], r["event_type"], r["state"]) for r in history] == [
        (1, "sale.recorded", "in_use"),
        (2, "collection.logged", "collected"),
        (3, "custody.transferred", "collected"),
    ]


async def test_a_transfer_from_someone_who_does_not_hold_the_battery_is_refused(scheme):
    serial = unique("BAT")
    await scheme.applied(await scheme.collect(serial))
    stranger = {"kind": "return_centre", "id": unique("centre")}
    await scheme.rejected(
        await scheme.transfer(serial, stranger, {"kind": "transporter", "id": "h"}), "custody_mismatch"
    )
    assert (await scheme.battery(serial))["custodian_id"] == scheme.centre


async def test_a_transfer_of_an_unknown_battery_is_refused(scheme):
    event = await scheme.transfer(
        unique("BAT"), {"kind": "transporter", "id": "a"}, {"kind": "transporter", "id": "b"}
    )
    await scheme.rejected(event, "unknown_battery")
