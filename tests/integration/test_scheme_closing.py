"""Contract 8.1 through the real stack: unclaimed deposits released, refunds from the reserve, resolutions.

Each release test sells in a currency of its own (three letters drawn at random), so a release, which
covers every battery of its currency, covers only the test's own.
"""

from __future__ import annotations

import random
import string
import uuid

import pytest

from contracts import topics
from streams.views import battery_view
from tests.conftest import envelope, unique, wait_for
from tests.integration.scheme import Scheme, item, lines_of
from tests.integration.test_gateway_support import bearer, gateway, gateway_url, http, new_key  # noqa: F401

FINANCE = "finance-1"
LONG_AGO, LATER = "2023-03-01T10:00:00+00:00", "2024-01-01T00:00:00+00:00"
LIABILITY, RESERVE = "liability:deposits", "reserve:unclaimed_deposits"


@pytest.fixture
def scheme(producer, pool):
    return Scheme(producer, pool)


def own_currency() -> str:
    return "Q" + "".join(random.choices(string.ascii_uppercase, k=2))


async def sell(scheme: Scheme, items: list[dict], currency: str, at: str | None = LONG_AGO) -> dict:
    data = {"sale_id": unique("S"), "store_id": scheme.store, "currency": currency, "items": items}
    event = await scheme.emit(envelope("sale.recorded", "pos", scheme.store, data, occurred_at=at))
    await scheme.applied(event)
    return event


async def release(
    scheme: Scheme,
    currency: str,
    sold_before: str = LATER,
    release_id: str | None = None,
    event_id: str | None = None,
) -> dict:
    data = {"release_id": release_id or unique("R"), "currency": currency, "sold_before": sold_before}
    event = envelope("deposits.released", "finance", FINANCE, data, event_id=event_id)
    await _send(scheme, event, currency)
    return event


async def resolve(scheme: Scheme, discrepancy_id, resolution: str, note: str | None = None) -> dict:
    data = {"discrepancy_id": str(discrepancy_id), "resolution": resolution, "note": note}
    event = envelope("discrepancy.resolved", "finance", FINANCE, data)
    await _send(scheme, event, str(discrepancy_id))
    return event


async def _send(scheme: Scheme, event: dict, key: str) -> None:
    from tests.conftest import send

    await send(scheme.producer, topics.FINANCE, key, event)


async def released_rows(pool, release_id: str) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT serial, amount FROM scheme.released_deposits WHERE release_id = $1", release_id
    )
    return {r["serial"]: r["amount"] for r in rows}


async def posting_lines(pool, posting_key: str) -> set[tuple]:
    return lines_of(
        await pool.fetchval("SELECT lines FROM scheme.postings WHERE posting_key = $1", posting_key)
    )


async def in_ledger(pool, posting_key: str):
    return await wait_for(
        lambda: pool.fetchval("SELECT entry_id FROM ledger.entries WHERE posting_key = $1", posting_key)
    )


async def test_a_release_moves_every_unclaimed_deposit_of_its_currency_to_the_reserve_once(scheme, pool):
    money, other = own_currency(), own_currency()
    old = [unique("BAT") for _ in range(3)]
    lease, recent, collected, elsewhere = (unique("BAT") for _ in range(4))
    await sell(
        scheme,
        [
            item(old[0], deposit=5000),
            item(old[1], deposit=7000),
            item(old[2], deposit=0),
            item(lease, deposit=0, contract="lease"),
            item(collected, deposit=4000),
        ],
        money,
    )
    await sell(scheme, [item(recent, deposit=5000)], money, at=None)
    await sell(scheme, [item(elsewhere, deposit=5000)], other if other != money else "XTS")
    await scheme.applied(await scheme.collect(collected))

    made = await release(scheme, money)
    await scheme.applied(made)
    release_id = made["data"]["release_id"]
    rows = await released_rows(pool, release_id)
    assert rows == {old[0]: 5000, old[1]: 7000}
    for serial in (*old, lease, recent, collected, elsewhere):
        assert (await scheme.battery(serial))["deposit_released"] == (serial in rows), serial
    posting_key = f"release:{release_id}"
    assert await posting_lines(pool, posting_key) == {
        (LIABILITY, 12000, 0, money),
        (RESERVE, 0, 12000, money),
    }
    await in_ledger(pool, posting_key)
    recorded = await pool.fetchrow("SELECT * FROM scheme.releases WHERE release_id = $1", release_id)
    assert (recorded["currency"], recorded["event_id"]) == (money, uuid.UUID(made["event_id"]))
    body = await battery_view(pool, old[0])
    assert (body["state"], body["deposit_released"], body["deposit_charged"]) == ("in_use", True, 5000)

    await _send(scheme, made, money)  # the same event again: nothing more
    again = await release(scheme, money)  # another release over the same window: nothing left to release
    await scheme.applied(again)
    assert await released_rows(pool, again["data"]["release_id"]) == {}
    assert await released_rows(pool, release_id) == rows
    assert await pool.fetchval("SELECT count(*) FROM scheme.postings WHERE subject = $1", release_id) == 1
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM scheme.postings WHERE subject = $1", again["data"]["release_id"]
        )
        == 0
    )
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM scheme.inbox WHERE event_id = $1", uuid.UUID(made["event_id"])
        )
        == 1
    )


async def test_a_release_id_used_by_another_event_is_a_duplicate_release(scheme, pool):
    money = own_currency()
    serial = unique("BAT")
    first = await release(scheme, money)
    await scheme.applied(first)
    await sell(scheme, [item(serial)], money)
    second = await release(scheme, money, release_id=first["data"]["release_id"])
    await scheme.rejected(second, "duplicate_release")
    assert not (await scheme.battery(serial))["deposit_released"]


async def test_a_cut_off_after_the_events_own_time_is_a_schema_violation(scheme, pool):
    serial, money = unique("BAT"), own_currency()
    await sell(scheme, [item(serial)], money)
    late = await release(scheme, money, sold_before="2999-01-01T00:00:00+00:00")
    await scheme.rejected(late, "schema_violation")
    assert not (await scheme.battery(serial))["deposit_released"]
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM scheme.releases WHERE release_id = $1", late["data"]["release_id"]
        )
        == 0
    )


async def test_a_released_battery_collected_later_is_refunded_in_full_from_the_reserve(
    scheme, pool, topic_reader
):
    serial, money = unique("BAT"), own_currency()
    await sell(scheme, [item(serial, deposit=6500)], money)
    await scheme.applied(await release(scheme, money))
    async with topic_reader(topics.REFUNDS) as refunds:
        collection = await scheme.collect(serial)
        await scheme.applied(collection)
        refund = await refunds.find(lambda m: isinstance(m, dict) and m["data"]["serial"] == serial)
    assert (refund["data"]["amount"], refund["data"]["currency"], refund["data"]["caused_by"]) == (
        6500,
        money,
        collection["event_id"],
    )
    assert await posting_lines(pool, f"refund:{serial}") == {
        (RESERVE, 6500, 0, money),
        (f"clearing:centre:{scheme.centre}", 0, 6500, money),
    }
    battery = await scheme.battery(serial)
    assert (battery["state"], battery["deposit_refunded"], battery["deposit_released"]) == (
        "collected",
        6500,
        True,
    )


async def test_a_released_batterys_cancelled_sale_takes_the_deposit_back_from_the_reserve(scheme, pool):
    serial, money = unique("BAT"), own_currency()
    sale = await sell(scheme, [item(serial, deposit=5000)], money)
    await scheme.applied(await release(scheme, money))
    await scheme.applied(await scheme.cancel(sale["data"]["sale_id"], [serial]))
    sale_id = sale["data"]["sale_id"]
    assert await posting_lines(pool, f"unrelease:{sale_id}:{serial}") == {
        (RESERVE, 5000, 0, money),
        (LIABILITY, 0, 5000, money),
    }
    battery = await scheme.battery(serial)
    assert (battery["state"], battery["deposit_released"]) == ("cancelled", False)


async def opened(pool, subject: str, kind: str) -> uuid.UUID:
    return await wait_for(
        lambda: pool.fetchval(
            "SELECT discrepancy_id FROM scheme.discrepancies WHERE subject = $1 AND kind = $2", subject, kind
        )
    )


async def test_a_serial_sold_again_returned_to_store_moves_its_held_money_out_of_suspense(
    scheme, pool, topic_reader
):
    serial = unique("BAT")
    await scheme.applied(await scheme.sale([item(serial)]))
    other = Scheme(scheme.producer, pool)
    await other.applied(await other.sale([item(serial, deposit=5000, fee=800)]))
    held = await opened(pool, serial, "serial_already_in_market")
    await scheme.rejected(await resolve(scheme, held, "accepted"), "resolution_not_allowed")
    async with topic_reader(topics.DISCREPANCIES) as discrepancies:
        resolution = await resolve(scheme, held, "returned_to_store", note="credit note 17")
        await scheme.applied(resolution)
        out = await discrepancies.find(
            lambda m: (
                isinstance(m, dict)
                and m["type"] == "discrepancy.resolved"
                and m["data"]["discrepancy_id"] == str(held)
            )
        )
    assert out["data"] == {
        "discrepancy_id": str(held),
        "kind": "serial_already_in_market",
        "resolution": "returned_to_store",
        "caused_by": resolution["event_id"],
    }
    key = f"suspense_return:{held}"
    assert await posting_lines(pool, key) == {
        (f"suspense:store:{other.store}", 5800, 0, "EUR"),
        (f"clearing:store:{other.store}", 0, 5800, "EUR"),
    }
    await in_ledger(pool, key)
    row = await pool.fetchrow("SELECT * FROM scheme.discrepancy_resolutions WHERE discrepancy_id = $1", held)
    assert (row["resolution"], row["note"], row["event_id"]) == (
        "returned_to_store",
        "credit note 17",
        uuid.UUID(resolution["event_id"]),
    )
    await scheme.rejected(await resolve(scheme, held, "returned_to_store"), "already_resolved")
    assert await pool.fetchval("SELECT count(*) FROM scheme.postings WHERE posting_key = $1", key) == 1


async def test_a_battery_missing_in_transit_written_off_is_lost(scheme, pool):
    kept, missing = unique("BAT"), unique("BAT")
    for serial in (kept, missing):
        await scheme.applied(await scheme.sale([item(serial)]))
        await scheme.applied(await scheme.collect(serial))
    lot = await scheme.dispatch([kept, missing], mass=5.6)
    await scheme.applied(lot)
    await scheme.applied(await scheme.receive(lot["data"]["lot_id"], [kept], mass=2.8))
    gone = await opened(pool, missing, "missing_in_transit")
    heavy = await opened(pool, lot["data"]["lot_id"], "mass_mismatch")
    await scheme.rejected(await resolve(scheme, gone, "accepted"), "resolution_not_allowed")
    written_off = await resolve(scheme, gone, "written_off")
    await scheme.applied(written_off)
    body = await battery_view(pool, missing)
    assert (body["state"], body["history"][-1]["event_type"], body["history"][-1]["state"]) == (
        "lost",
        "discrepancy.resolved",
        "lost",
    )
    await scheme.rejected(await scheme.collect(missing), "already_returned")
    await scheme.rejected(await resolve(scheme, heavy, "written_off"), "resolution_not_allowed")
    accepted = await resolve(scheme, heavy, "accepted")
    await scheme.applied(accepted)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM scheme.postings WHERE caused_by = ANY($1::uuid[])",
            [written_off["event_id"], accepted["event_id"]],
        )
        == 0
    )  # no money moves
    resolved = await pool.fetch(
        "SELECT discrepancy_id, resolution FROM scheme.discrepancy_resolutions "
        "WHERE discrepancy_id = ANY($1::uuid[])",
        [gone, heavy],
    )
    assert {(r["discrepancy_id"], r["resolution"]) for r in resolved} == {
        (gone, "written_off"),
        (heavy, "accepted"),
    }


async def test_an_unknown_discrepancy_is_refused_and_nothing_is_written(scheme, pool):
    unknown = uuid.uuid4()
    await scheme.rejected(await resolve(scheme, unknown, "accepted"), "unknown_discrepancy")
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM scheme.discrepancy_resolutions WHERE discrepancy_id = $1", unknown
        )
        == 0
    )


async def test_finance_releases_and_resolves_over_http_and_the_battery_body_says_so(
    scheme, pool, http, new_key
):
    """POST /v1/events with a finance key, as over Kafka; GET /v1/batteries/{serial} shows the release."""
    finance_id = unique("finance")
    finance = await new_key("finance", finance_id)
    pos = await new_key("pos", scheme.store)
    serial, money = unique("BAT"), own_currency()
    await sell(scheme, [item(serial, deposit=4200)], money)
    made = envelope(
        "deposits.released",
        "finance",
        finance_id,
        {"release_id": unique("R"), "currency": money, "sold_before": LATER},
    )
    assert (await http.post("/v1/events", json=made, headers=bearer(finance))).status_code == 202
    await scheme.applied(made)
    body = (await http.get(f"/v1/batteries/{serial}", headers=bearer(pos))).json()
    assert (body["state"], body["deposit_charged"], body["deposit_released"]) == ("in_use", 4200, True)
    assert (
        await http.post("/v1/events", json=made, headers=bearer(pos))
    ).status_code == 403  # finance's alone

    other = Scheme(scheme.producer, pool)
    await other.applied(await other.sale([item(serial)]))
    held = await opened(pool, serial, "serial_already_in_market")
    resolution = envelope(
        "discrepancy.resolved",
        "finance",
        finance_id,
        {"discrepancy_id": str(held), "resolution": "returned_to_store"},
    )
    assert (await http.post("/v1/events", json=resolution, headers=bearer(finance))).status_code == 202
    await scheme.applied(resolution)
    assert (
        await pool.fetchval(
            "SELECT resolution FROM scheme.discrepancy_resolutions WHERE discrepancy_id = $1", held
        )
        == "returned_to_store"
    )


async def test_the_kinds_finance_accepts_close_once_with_no_money_moved(scheme, pool, topic_reader):
    """`amount_differs_from_terms`, `unexpected_in_lot` and `overpayment` (a `mass_mismatch`: above) allow
    `accepted` and nothing else; accepted, each is closed, sent out as `discrepancy.resolved`, moves no money,
    and is resolved once."""
    sku, differs, listed, stranger = unique("SKU"), unique("BAT"), unique("BAT"), unique("OLD")
    await scheme.applied(await scheme.terms(sku, 5000, 800))
    await scheme.applied(await scheme.sale([item(differs, deposit=4000, sku=sku), item(listed)]))
    await scheme.applied(await scheme.collect(listed))
    lot = await scheme.dispatch([listed], mass=2.8)
    await scheme.applied(lot)
    await scheme.applied(await scheme.receive(lot["data"]["lot_id"], [listed, stranger], mass=2.8))
    payment = await scheme.payment("store", unique("store"), 999)  # a store that owed nothing: all excess
    await scheme.applied(payment)
    opened_now = {
        "amount_differs_from_terms": await opened(pool, differs, "amount_differs_from_terms"),
        "unexpected_in_lot": await opened(pool, stranger, "unexpected_in_lot"),
        "overpayment": await opened(pool, payment["data"]["payment_id"], "overpayment"),
    }
    for discrepancy_id in opened_now.values():
        for wrong in ("returned_to_store", "written_off"):
            await scheme.rejected(await resolve(scheme, discrepancy_id, wrong), "resolution_not_allowed")
    accepted = {}
    async with topic_reader(topics.DISCREPANCIES) as discrepancies:
        for kind, discrepancy_id in opened_now.items():
            accepted[kind] = await resolve(scheme, discrepancy_id, "accepted", note=f"accepted {kind}")
            await scheme.applied(accepted[kind])
        for kind, discrepancy_id in opened_now.items():
            out = await discrepancies.find(
                lambda m, wanted=str(discrepancy_id): (
                    isinstance(m, dict)
                    and m["type"] == "discrepancy.resolved"
                    and m["data"]["discrepancy_id"] == wanted
                )
            )
            assert out["data"] == {
                "discrepancy_id": str(discrepancy_id),
                "kind": kind,
                "resolution": "accepted",
                "caused_by": accepted[kind]["event_id"],
            }
    rows = await pool.fetch(
        "SELECT discrepancy_id, resolution, note FROM scheme.discrepancy_resolutions"
        " WHERE discrepancy_id = ANY($1::uuid[])",
        list(opened_now.values()),
    )
    assert {(r["discrepancy_id"], r["resolution"], r["note"]) for r in rows} == {
        (discrepancy_id, "accepted", f"accepted {kind}") for kind, discrepancy_id in opened_now.items()
    }
    caused = [event["event_id"] for event in accepted.values()]
    assert (
        await pool.fetchval("SELECT count(*) FROM scheme.postings WHERE caused_by = ANY($1::uuid[])", caused)
        == 0
    )  # no money moves
    for discrepancy_id in opened_now.values():
        await scheme.rejected(await resolve(scheme, discrepancy_id, "accepted"), "already_resolved")
    assert (await scheme.battery(differs))["state"] == "in_use"


async def test_a_held_item_its_store_cancelled_is_returned_without_moving_money_again(scheme, pool):
    """The store cancels the held item first (the exact reverse of its suspense posting), then finance returns
    it to the store: resolved, and nothing more moves. Returned first, the item can no longer be cancelled."""
    cancelled_first, returned_first = unique("BAT"), unique("BAT")
    await scheme.applied(await scheme.sale([item(cancelled_first), item(returned_first)]))
    other = Scheme(scheme.producer, pool)
    held_sale = await other.sale([item(cancelled_first), item(returned_first)])
    await other.applied(held_sale)
    sale_id = held_sale["data"]["sale_id"]
    first = await opened(pool, cancelled_first, "serial_already_in_market")
    second = await opened(pool, returned_first, "serial_already_in_market")

    await other.applied(await other.cancel(sale_id, [cancelled_first]))
    assert await posting_lines(pool, f"cancel:{sale_id}:{cancelled_first}") == {  # the held money reversed
        (f"suspense:store:{other.store}", 5800, 0, "EUR"),
        (f"clearing:store:{other.store}", 0, 5800, "EUR"),
    }
    resolution = await resolve(scheme, first, "returned_to_store")
    await scheme.applied(resolution)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM scheme.postings WHERE caused_by = $1", uuid.UUID(resolution["event_id"])
        )
        == 0
    )
    assert (
        await pool.fetchval(
            "SELECT resolution FROM scheme.discrepancy_resolutions WHERE discrepancy_id = $1", first
        )
        == "returned_to_store"
    )

    await scheme.applied(await resolve(scheme, second, "returned_to_store"))
    await other.rejected(await other.cancel(sale_id, [returned_first]), "already_returned")
    assert await posting_lines(pool, f"suspense_return:{second}") == {
        (f"suspense:store:{other.store}", 5800, 0, "EUR"),
        (f"clearing:store:{other.store}", 0, 5800, "EUR"),
    }
