"""Contract 8.2, late sales, over real HTTP against the real stack: a sale recorded after its battery was
taken back as an orphan, but that occurred before the collection, applies in full and refunds that collection
at once; one that occurred after the collection stays in suspense."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts import topics
from services.ledger.service_layer import reconcile
from tests.conftest import envelope, unique
from tests.integration.scheme import Scheme, item, lines_of
from tests.integration.test_gateway_support import (  # noqa: F401
    bearer,
    gateway,
    gateway_url,
    http,
    new_key,
)

JSON = {"Content-Type": "application/json"}
WAIT = {"Prefer": "wait=10"}
NOW = datetime.now(UTC)


def ago(hours: float) -> str:
    return (NOW - timedelta(hours=hours)).isoformat()


@pytest.fixture
async def store(new_key):
    store_id = unique("store")
    return store_id, await new_key("pos", store_id)


@pytest.fixture
async def centre(new_key):
    centre_id = unique("centre")
    return centre_id, await new_key("return_centre", centre_id)


@pytest.fixture
async def finance(new_key):
    return await new_key("finance", unique("finance"), role="finance")


async def decided(http, key: str, event: dict) -> dict:
    """POST the event waiting for the scheme's decision; the 200 body."""
    response = await http.post("/v1/events", json=event, headers={**bearer(key), **JSON, **WAIT})
    assert response.status_code == 200, response.text
    return response.json()


def collection(centre_id: str, serial: str, at: str, refund: dict | None = None) -> dict:
    data = {"collection_id": unique("C"), "centre_id": centre_id, "serial": serial, "condition": "damaged"}
    if refund is not None:
        data["refund"] = refund
    return envelope("collection.logged", "return_centre", centre_id, data, occurred_at=at)


def sale(store_id: str, items: list[dict], at: str, customer_ref: str | None = None) -> dict:
    data = {"sale_id": unique("S"), "store_id": store_id, "currency": "EUR", "items": items}
    if customer_ref is not None:
        data["customer_ref"] = customer_ref
    return envelope("sale.recorded", "pos", store_id, data, occurred_at=at)


async def orphan_collected(http, centre, at: str, refund: dict | None = None) -> dict:
    """An orphan taken back at the counter: applied, no refund, taken back free."""
    event = collection(centre[0], unique("BAT"), at, refund)
    body = await decided(http, centre[1], event)
    assert (body["status"], body["outcome"]["refund"], body["outcome"]["taken_back"]) == (
        "applied",
        None,
        "taken_back_free",
    )
    return event


async def balanced(pool, full: bool = False) -> None:
    """Reconciliation finds the books balanced: incremental (from the ledger's last stored run), and full."""
    for mode in ("incremental", "full") if full else ("incremental",):
        result = await reconcile(pool, mode=mode)
        assert result["status"] == "balanced", (mode, [c for c in result["checks"] if not c["ok"]])


async def test_a_sale_that_occurred_before_the_orphan_collection_applies_and_refunds_it(
    http, pool, store, centre, finance, topic_reader
):
    taken = await orphan_collected(http, centre, ago(1), {"method": "bank_transfer", "payee_ref": "c-77"})
    serial = taken["data"]["serial"]
    late = sale(store[0], [item(serial, deposit=5000, fee=800)], ago(2), customer_ref="c-9f2a")
    async with topic_reader(topics.REFUNDS) as refunds:
        assert (await decided(http, store[1], late))["status"] == "applied"
        refund = await refunds.find(lambda m: isinstance(m, dict) and m["data"]["serial"] == serial)
    assert refund["type"] == "refund.instructed"
    assert {
        k: refund["data"][k] for k in ("amount", "currency", "method", "payee_ref", "centre_id", "caused_by")
    } == {
        "amount": 5000,
        "currency": "EUR",
        "method": "bank_transfer",
        "payee_ref": "c-77",
        "centre_id": centre[0],
        "caused_by": taken["event_id"],
    }

    scheme = Scheme(None, pool, store=store[0], centre=centre[0])
    sale_id = late["data"]["sale_id"]
    assert lines_of(
        (await scheme.postings(serial))[f"sale:{sale_id}:{serial}"]
    ) == {  # the normal sale posting
        (f"clearing:store:{store[0]}", 5800, 0, "EUR"),
        ("liability:deposits", 0, 5000, "EUR"),
        ("fund:recycling", 0, 800, "EUR"),
    }
    assert lines_of((await scheme.postings(serial))[f"refund:{serial}"]) == {
        ("liability:deposits", 5000, 0, "EUR"),
        (f"clearing:centre:{centre[0]}", 0, 5000, "EUR"),
    }
    assert await scheme.discrepancies(serial) == []
    assert (
        await pool.fetchval("SELECT status FROM scheme.sale_items WHERE sale_id = $1", sale_id) == "in_market"
    )

    body = (await http.get(f"/v1/batteries/{serial}", headers=bearer(store[1]))).json()
    assert {
        k: body[k] for k in ("state", "contract", "deposit_charged", "deposit_refunded", "custodian")
    } == {
        "state": "collected",
        "contract": "deposit",
        "deposit_charged": 5000,
        "deposit_refunded": 5000,
        "custodian": {"kind": "return_centre", "id": centre[0]},
    }
    customer, desk = {"kind": "customer", "id": "c-9f2a"}, {"kind": "return_centre", "id": centre[0]}
    assert [(h["event_id"], h["event_type"], h["from"], h["to"], h["state"]) for h in body["history"]] == [
        (late["event_id"], "sale.recorded", None, customer, "in_use"),
        (taken["event_id"], "collection.logged", customer, desk, "collected"),
    ]  # occurred_at order, one chain
    assert [datetime.fromisoformat(h["at"]) for h in body["history"]] == [
        datetime.fromisoformat(late["occurred_at"]),
        datetime.fromisoformat(taken["occurred_at"]),
    ]

    # the handling fee the sku's terms gave, if finance published one (the demo does; contract 8.1)
    fee = await pool.fetchval(
        "SELECT handling_fee FROM scheme.late_sales WHERE collection_event_id = $1",
        uuid.UUID(taken["event_id"]),
    )
    for key in (centre[1], finance):  # what the collection's outcome is now: refunded, with the late refund
        status = (await http.get(f"/v1/events/{taken['event_id']}", headers=bearer(key))).json()
        assert status == {
            "event_id": taken["event_id"],
            "status": "applied",
            "outcome": {
                "state": "collected",
                "refund": {"amount": 5000, "currency": "EUR", "method": "bank_transfer"},
                "handling_fee": fee,
                "taken_back": "refunded",
            },
        }
    await balanced(pool, full=True)


async def test_a_sale_that_occurred_after_the_collection_is_held_in_suspense(http, pool, store, centre):
    taken = await orphan_collected(http, centre, ago(2), {"method": "cash"})
    serial = taken["data"]["serial"]
    after = sale(store[0], [item(serial, deposit=5000, fee=800)], ago(1))
    assert (await decided(http, store[1], after))["status"] == "applied"
    scheme = Scheme(None, pool, store=store[0], centre=centre[0])
    assert await scheme.discrepancies(serial) == ["serial_already_in_market"]
    assert set(await scheme.postings(serial)) == {f"suspense:{after['data']['sale_id']}:{serial}"}
    assert await pool.fetchval("SELECT count(*) FROM scheme.refunds WHERE serial = $1", serial) == 0
    battery = await scheme.battery(serial)
    assert (battery["state"], battery["contract"], battery["deposit_charged"], battery["sale_id"]) == (
        "collected",
        None,
        0,
        None,
    )
    status = (await http.get(f"/v1/events/{taken['event_id']}", headers=bearer(centre[1]))).json()
    assert (status["outcome"]["refund"], status["outcome"]["taken_back"]) == (None, "taken_back_free")
    await balanced(pool)


async def test_a_late_lease_sale_closes_the_lease_without_refund(http, pool, store, centre):
    taken = await orphan_collected(http, centre, ago(1))
    serial = taken["data"]["serial"]
    late = sale(store[0], [item(serial, deposit=0, fee=900, contract="lease")], ago(3))
    assert (await decided(http, store[1], late))["status"] == "applied"
    scheme = Scheme(None, pool, store=store[0], centre=centre[0])
    assert lines_of((await scheme.postings(serial))[f"sale:{late['data']['sale_id']}:{serial}"]) == {
        (f"clearing:store:{store[0]}", 900, 0, "EUR"),
        ("fund:recycling", 0, 900, "EUR"),
    }
    assert await pool.fetchval("SELECT count(*) FROM scheme.refunds WHERE serial = $1", serial) == 0
    battery = await scheme.battery(serial)
    assert (battery["state"], battery["contract"], battery["deposit_refunded"]) == ("collected", "lease", 0)
    status = (await http.get(f"/v1/events/{taken['event_id']}", headers=bearer(centre[1]))).json()
    assert (status["outcome"]["refund"], status["outcome"]["taken_back"]) == (None, "lease_closed")
    await balanced(pool)


async def test_a_late_sale_of_an_orphan_already_sent_on_refunds_and_never_moves_it_back(
    http, pool, producer, store, centre
):
    """Collected, dispatched, received, recycled before its sale arrived: it stays recycled, refunded once."""
    taken = await orphan_collected(http, centre, ago(5))
    serial = taken["data"]["serial"]
    scheme = Scheme(producer, pool, store=store[0], centre=centre[0])
    dispatched = await scheme.dispatch([serial])
    await scheme.applied(dispatched)
    lot_id = dispatched["data"]["lot_id"]
    for step in (scheme.receive(lot_id, [serial]), scheme.recover(lot_id, cost=300)):
        await scheme.applied(await step)
    late = sale(store[0], [item(serial, deposit=4000, fee=700)], ago(6))
    assert (await decided(http, store[1], late))["status"] == "applied"

    battery = await scheme.battery(serial)
    assert (
        battery["state"],
        battery["custodian_kind"],
        battery["deposit_charged"],
        battery["deposit_refunded"],
        battery["lot_id"],
    ) == ("recycled", "recycler", 4000, 4000, lot_id)
    refund = await pool.fetchrow("SELECT * FROM scheme.refunds WHERE serial = $1", serial)
    assert (refund["amount"], refund["method"], refund["centre_id"], refund["caused_by"]) == (
        4000,
        "cash",
        centre[0],
        uuid.UUID(taken["event_id"]),
    )  # no method asked: cash, the contract's default
    body = (await http.get(f"/v1/batteries/{serial}", headers=bearer(store[1]))).json()
    assert [(h["event_type"], h["state"]) for h in body["history"]] == [
        ("sale.recorded", "in_use"),
        ("collection.logged", "collected"),
        ("lot.dispatched", "in_transit"),
        ("lot.received", "at_recycler"),
        ("recovery.confirmed", "recycled"),
    ]
    assert all(line["from"] == before["to"] for before, line in zip(body["history"], body["history"][1:]))
    await balanced(pool, full=True)


async def test_a_late_sale_delivered_again_changes_nothing_and_a_second_one_is_held_in_suspense(
    http, pool, producer, store, centre
):
    taken = await orphan_collected(http, centre, ago(1), {"method": "voucher"})
    serial = taken["data"]["serial"]
    late = sale(store[0], [item(serial, deposit=5000)], ago(2))
    assert (await decided(http, store[1], late))["status"] == "applied"
    scheme = Scheme(producer, pool, store=store[0], centre=centre[0])

    async def records() -> tuple:
        return tuple(
            [
                await pool.fetchval(f"SELECT count(*) FROM scheme.{table} WHERE serial = $1", serial)
                for table in ("refunds", "custody_history", "late_sales", "sale_items")
            ]
            + [
                await pool.fetchval("SELECT count(*) FROM scheme.postings WHERE subject = $1", serial),
                await pool.fetchval(
                    "SELECT count(*) FROM scheme.outbox WHERE key = $1 AND topic = $2", serial, topics.REFUNDS
                ),
            ]
        )

    before = await records()
    assert before[:4] == (1, 2, 1, 1)
    assert (await decided(http, store[1], late))["status"] == "applied"  # sent again: its first outcome
    await scheme.emit(late)  # and again straight to Kafka: a duplicate
    other = Scheme(producer, pool, centre=centre[0])
    second = sale(
        other.store, [item(serial, deposit=3000)], ago(3)
    )  # another sale, also before the collection
    await other.emit(second, key=late["data"]["sale_id"])  # behind the duplicate, in its partition
    await other.applied(second)
    assert await scheme.discrepancies(serial) == ["serial_already_in_market"]
    after = await records()
    assert before[5] == 1
    assert after == (before[0], before[1], before[2], before[3] + 1, before[4] + 1, before[5])  # its suspense
    assert await pool.fetchval("SELECT sum(amount) FROM scheme.refunds WHERE serial = $1", serial) == 5000
    await balanced(pool)


async def test_a_late_sale_pays_the_collections_handling_fee_at_the_terms_of_its_time(
    http, pool, producer, store, centre
):
    scheme = Scheme(producer, pool, store=store[0], centre=centre[0])
    sku = unique("SKU")
    terms = envelope(
        "terms.published",
        "finance",
        "finance-1",
        {
            "sku": sku,
            "deposit": 5000,
            "recycling_fee": 800,
            "handling_fee": 120,
            "currency": "EUR",
            "effective_from": ago(48),
        },
    )
    await scheme.emit(terms)
    await scheme.applied(terms)
    taken = await orphan_collected(http, centre, ago(1))
    serial = taken["data"]["serial"]
    late = sale(store[0], [item(serial, deposit=5000, fee=800, sku=sku)], ago(2))
    assert (await decided(http, store[1], late))["status"] == "applied"
    assert lines_of((await scheme.postings(serial))[f"handling_fee:{taken['event_id']}"]) == {
        ("fund:recycling", 120, 0, "EUR"),
        (f"clearing:centre:{centre[0]}", 0, 120, "EUR"),
    }
    status = (await http.get(f"/v1/events/{taken['event_id']}", headers=bearer(centre[1]))).json()
    assert (status["outcome"]["taken_back"], status["outcome"]["handling_fee"]) == ("refunded", 120)
    await balanced(pool, full=True)
