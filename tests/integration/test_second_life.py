"""Contract 8.3, the write side: grading, countries, thresholds and recycling output kept as sent."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest

from contracts import topics
from services.ledger.service_layer import reconcile
from tests.conftest import envelope, unique, wait_for
from tests.integration.scheme import Scheme, item
from tests.integration.test_gateway_support import bearer, gateway, gateway_url, http, new_key  # noqa: F401


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


async def test_terms_with_repurpose_above_reuse_are_applied_and_kept_as_sent(scheme, pool):
    """Contract 8.3 sets no order between the thresholds: each is an optional integer 0-100."""
    only_reuse, both, extremes = unique("SKU"), unique("SKU"), unique("SKU")
    await scheme.applied(await scheme.terms(only_reuse, 5000, 800, reuse_min_pct=60))  # below the default 65
    await scheme.applied(await scheme.terms(both, 5000, 800, reuse_min_pct=70, repurpose_min_pct=71))
    await scheme.applied(await scheme.terms(extremes, 5000, 800, reuse_min_pct=0, repurpose_min_pct=100))
    rows = {
        r["sku"]: (r["reuse_min_pct"], r["repurpose_min_pct"])
        for r in await pool.fetch(
            "SELECT sku, reuse_min_pct, repurpose_min_pct FROM scheme.terms WHERE sku = ANY($1)",
            [only_reuse, both, extremes],
        )
    }
    assert rows == {only_reuse: (60, 65), both: (70, 71), extremes: (0, 100)}


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


BAD_NEW_FIELDS = {  # case: (event type, the field, its bad value), contract 8.3's new optional fields
    "a state of health below 0": ("collection.logged", "state_of_health_pct", -1),
    "a state of health not an integer": ("collection.logged", "state_of_health_pct", 72.5),
    "a state of health as text": ("collection.logged", "state_of_health_pct", "72"),
    "a collection's country in lower case": ("collection.logged", "country", "de"),
    "a collection's country of three letters": ("collection.logged", "country", "DEU"),
    "a sale's country spelled out": ("sale.recorded", "country", "Germany"),
    "an output mass of zero": ("recovery.confirmed", "output_mass_kg", 0),
    "a reuse threshold above 100": ("terms.published", "reuse_min_pct", 101),
    "a reuse threshold below 0": ("terms.published", "reuse_min_pct", -1),
    "a reuse threshold not an integer": ("terms.published", "reuse_min_pct", 60.5),
    "a repurpose threshold below 0": ("terms.published", "repurpose_min_pct", -1),
    "a repurpose threshold above 100": ("terms.published", "repurpose_min_pct", 101),
    "a repurpose threshold as text": ("terms.published", "repurpose_min_pct", "65"),
}


async def with_bad(scheme: Scheme, event_type: str, field: str, value) -> tuple[dict, tuple[str, str]]:
    """The event of `event_type` with `field` set to `value` (not yet sent), and the row it must not leave."""
    if event_type == "collection.logged":
        event = envelope(
            "collection.logged",
            "return_centre",
            scheme.centre,
            {
                "collection_id": unique("C"),
                "centre_id": scheme.centre,
                "serial": unique("BAT"),
                "condition": "functional",
                field: value,
            },
        )
        return event, ("SELECT count(*) FROM scheme.batteries WHERE serial = $1", event["data"]["serial"])
    if event_type == "sale.recorded":
        data = {
            "sale_id": unique("S"),
            "store_id": scheme.store,
            "currency": "EUR",
            "items": [item(unique("BAT"))],
            field: value,
        }
        event = envelope("sale.recorded", "pos", scheme.store, data)
        return event, ("SELECT count(*) FROM scheme.sales WHERE sale_id = $1", data["sale_id"])
    if event_type == "terms.published":
        sku = unique("SKU")
        data = {
            "sku": sku,
            "deposit": 5000,
            "recycling_fee": 800,
            "currency": "EUR",
            "effective_from": "2020-01-01T00:00:00Z",
            field: value,
        }
        event = envelope("terms.published", "finance", "finance-1", data)
        return event, ("SELECT count(*) FROM scheme.terms WHERE sku = $1", sku)
    serial = unique("BAT")  # recovery.confirmed: a lot received, then confirmed with the bad output
    await scheme.applied(await scheme.collect(serial))
    lot = await scheme.dispatch([serial])
    await scheme.applied(lot)
    lot_id = lot["data"]["lot_id"]
    await scheme.applied(await scheme.receive(lot_id, [serial]))
    data = {
        "lot_id": lot_id,
        "recycler_id": scheme.recycler,
        "input_mass_kg": 99.5,
        "cost": 100,
        "currency": "EUR",
        "recovered": [{"material": "other", "mass_kg": 1.0}],
        field: value,
    }
    event = envelope("recovery.confirmed", "recycler", scheme.recycler, data)
    return event, ("SELECT count(*) FROM scheme.recoveries WHERE lot_id = $1", lot_id)


@pytest.mark.parametrize("case", BAD_NEW_FIELDS)
async def test_a_bad_value_of_a_new_field_is_rejected_naming_it_and_changes_nothing(
    scheme, pool, topic_reader, case
):
    event_type, field, value = BAD_NEW_FIELDS[case]
    event, left = await with_bad(scheme, event_type, field, value)
    async with topic_reader(topics.REJECTIONS) as rejections:
        await scheme.emit(event)
        await scheme.rejected(event, "schema_violation")
        rejected = await rejections.find(lambda m: m["data"]["rejected_event_id"] == event["event_id"])
    assert f"data.{field}" in rejected["data"]["message"], rejected["data"]["message"]
    assert await pool.fetchval(*left) == 0


# -- routes (battery.routed on takeback.routing) ---------------------------------------------------------


def is_routed(serial: str):
    return lambda m: (
        isinstance(m, dict) and m.get("type") == "battery.routed" and m["data"]["serial"] == serial
    )


async def routed_once(scheme: Scheme, routing, collection: dict) -> dict:
    """The collection applied, its battery.routed read back, and the route kept on its row."""
    await scheme.applied(collection)
    serial = collection["data"]["serial"]
    message = await routing.find(
        lambda m: is_routed(serial)(m) and m["data"]["caused_by"] == collection["event_id"]
    )
    assert message["source"]["kind"] == "scheme" and message["event_id"] != collection["event_id"]
    kept = await scheme.pool.fetchval(
        "SELECT route FROM scheme.collections WHERE event_id = $1", uuid.UUID(collection["event_id"])
    )
    assert kept == message["data"]["route"]
    return message["data"]


@pytest.mark.parametrize(
    "condition, health, route",
    [
        ("functional", 85, "reuse"),  # at the default reuse threshold
        ("damaged", 84, "repurpose"),
        ("functional", 65, "repurpose"),  # at the default repurpose threshold
        ("functional", 64, "recycle"),
        ("hazardous", 100, "recycle"),  # whatever its health
        ("defective", 90, "recycle"),
        ("functional", None, "inspect"),  # no state of health
        ("hazardous", None, "recycle"),
    ],
)
async def test_every_collection_is_routed_by_its_condition_and_state_of_health(
    scheme, topic_reader, condition, health, route
):
    serial = unique("BAT")
    await scheme.applied(await scheme.sale([item(serial, sku=unique("SKU"))]))  # a sku without terms
    extra = {} if health is None else {"state_of_health_pct": health}
    async with topic_reader(topics.ROUTING) as routing:
        data = await routed_once(scheme, routing, await scheme.collect(serial, condition=condition, **extra))
    assert (data["route"], data["state_of_health_pct"]) == (route, health)


async def test_an_orphan_is_routed_by_the_default_thresholds(scheme, topic_reader):
    serial = unique("OLD")
    async with topic_reader(topics.ROUTING) as routing:
        data = await routed_once(scheme, routing, await scheme.collect(serial, state_of_health_pct=85))
    assert data["route"] == "reuse"


async def at(
    scheme: Scheme, event_type: str, kind: str, source_id: str, data: dict, occurred_at: str
) -> dict:
    return await scheme.emit(envelope(event_type, kind, source_id, data, occurred_at=occurred_at))


async def test_the_thresholds_are_those_of_the_skus_terms_in_force_at_the_collection(scheme, topic_reader):
    sku = unique("SKU")
    await scheme.applied(
        await scheme.terms(sku, 5000, 800, "2020-01-01T00:00:00Z", reuse_min_pct=95, repurpose_min_pct=80)
    )
    await scheme.applied(
        await scheme.terms(sku, 5000, 800, "2026-06-01T00:00:00Z", reuse_min_pct=70, repurpose_min_pct=50)
    )
    early, late = unique("BAT"), unique("BAT")
    sale = {
        "sale_id": unique("S"),
        "store_id": scheme.store,
        "currency": "EUR",
        "items": [item(early, sku=sku), item(late, sku=sku)],
    }
    await scheme.applied(await at(scheme, "sale.recorded", "pos", scheme.store, sale, "2026-01-15T00:00:00Z"))

    def graded(serial: str) -> dict:
        return {
            "collection_id": unique("C"),
            "centre_id": scheme.centre,
            "serial": serial,
            "condition": "functional",
            "state_of_health_pct": 75,
        }

    async with topic_reader(topics.ROUTING) as routing:
        before = await at(
            scheme, "collection.logged", "return_centre", scheme.centre, graded(early), "2026-05-31T23:59:59Z"
        )
        after = await at(
            scheme, "collection.logged", "return_centre", scheme.centre, graded(late), "2026-06-01T00:00:00Z"
        )
        assert (await routed_once(scheme, routing, before))[
            "route"
        ] == "recycle"  # 75 < 80 of the first terms
        assert (await routed_once(scheme, routing, after))["route"] == "reuse"  # 75 >= 70 of the later ones


async def routes_of(scheme: Scheme, routing, sku: str, health: list[int]) -> list[str]:
    """One battery of `sku` sold, then collected functional at each state of health: the routes sent out."""
    serials = [unique("BAT") for _ in health]
    await scheme.applied(await scheme.sale([item(serial, sku=sku) for serial in serials]))
    routes = []
    for serial, pct in zip(serials, health, strict=True):
        collection = await scheme.collect(serial, state_of_health_pct=pct)
        data = await routed_once(scheme, routing, collection)
        assert data["state_of_health_pct"] == pct
        routes.append(data["route"])
    return routes


async def test_terms_with_only_a_reuse_threshold_below_the_repurpose_default_route_by_it(
    scheme, topic_reader
):
    sku = unique("SKU")
    await scheme.applied(await scheme.terms(sku, 5000, 800, reuse_min_pct=60))  # repurpose stays 65
    async with topic_reader(topics.ROUTING) as routing:
        # 62: at or above reuse (60), checked first, though below repurpose (65); 50: below both.
        assert await routes_of(scheme, routing, sku, [62, 50]) == ["reuse", "recycle"]


async def test_terms_with_repurpose_above_reuse_route_in_the_contracts_order(scheme, topic_reader):
    sku = unique("SKU")
    await scheme.applied(await scheme.terms(sku, 5000, 800, reuse_min_pct=70, repurpose_min_pct=80))
    async with topic_reader(topics.ROUTING) as routing:
        # Reuse first: at or above 70 is reused (80 and 90 too, above repurpose); below 70 is below 80 as
        # well: recycled. None is repurposed.
        assert await routes_of(scheme, routing, sku, [90, 80, 75, 70, 69]) == [
            "reuse",
            "reuse",
            "reuse",
            "reuse",
            "recycle",
        ]


async def routing_rows(pool, serial: str) -> list[str]:
    """The battery.routed the scheme asked to send for this serial: the caused_by of each, in order."""
    rows = await pool.fetch(
        "SELECT value FROM scheme.outbox WHERE topic = $1 AND key = $2 ORDER BY seq", topics.ROUTING, serial
    )
    return [json.loads(bytes(r["value"]))["data"]["caused_by"] for r in rows]


async def test_battery_routed_goes_out_once_per_applied_collection_never_for_a_rejected_or_duplicate_one(
    scheme, pool, topic_reader
):
    serial = unique("BAT")
    await scheme.applied(await scheme.sale([item(serial)]))
    async with topic_reader(topics.ROUTING) as routing:
        first = await scheme.collect(serial, state_of_health_pct=90)
        await routed_once(scheme, routing, first)
        await scheme.emit(first)  # delivered again: a no-op
        again = await scheme.collect(serial, state_of_health_pct=90)  # another collection: already returned
        await scheme.rejected(again, "already_returned")
        bad = await scheme.collect(serial, state_of_health_pct=101)
        await scheme.rejected(bad, "schema_violation")
        marker = unique("OLD")  # a later collection of another battery: once it is out, so would be any copy
        await routed_once(scheme, routing, await scheme.collect(marker))
    published = {m["event_id"]: m["data"]["caused_by"] for m in routing.seen if is_routed(serial)(m)}
    assert list(published.values()) == [first["event_id"]]
    assert await routing_rows(pool, serial) == [first["event_id"]]


# -- repurposing (battery.repurposed) ----------------------------------------------------------------------


async def collected_at_operator(scheme: Scheme, operator: str, sku: str = "EB-500", **collection) -> str:
    serial = unique("BAT")
    await scheme.applied(await scheme.sale([item(serial, sku=sku)]))
    await scheme.applied(await scheme.collect(serial, **collection))
    centre = {"kind": "return_centre", "id": scheme.centre}
    to = {"kind": "second_life", "id": operator}
    await scheme.applied(
        await scheme.transfer(serial, centre, to, "second_life", "return_centre", scheme.centre)
    )
    return serial


async def test_a_collected_battery_the_operator_holds_is_repurposed(scheme, pool):
    operator = unique("op")
    serial = await collected_at_operator(scheme, operator, state_of_health_pct=70)
    event = await scheme.repurpose(serial, operator, "stationary_storage")
    await scheme.applied(event)
    battery = await scheme.battery(serial)
    assert (battery["state"], battery["custodian_kind"], battery["custodian_id"]) == (
        "repurposed",
        "second_life",
        operator,
    )
    row = await pool.fetchrow("SELECT * FROM scheme.repurposings WHERE serial = $1", serial)
    assert (row["operator_id"], row["application"], str(row["event_id"])) == (
        operator,
        "stationary_storage",
        event["event_id"],
    )
    history = await pool.fetch(
        "SELECT event_type, to_kind, to_id, state FROM scheme.custody_history WHERE serial = $1 ORDER BY seq",
        serial,
    )
    assert [tuple(h) for h in history][-1] == ("battery.repurposed", "second_life", operator, "repurposed")
    await scheme.emit(event)  # delivered again: a no-op
    await scheme.rejected(await scheme.repurpose(serial, operator), "custody_mismatch")  # read after it
    assert await pool.fetchval("SELECT count(*) FROM scheme.repurposings WHERE serial = $1", serial) == 1


@pytest.mark.parametrize("case", ["in_use", "at_the_centre", "another_operator", "already_repurposed"])
async def test_a_repurposing_is_refused_unless_the_operator_holds_the_collected_battery(scheme, pool, case):
    operator = unique("op")
    if case == "in_use":
        serial = unique("BAT")
        await scheme.applied(await scheme.sale([item(serial)]))
    elif case == "at_the_centre":
        serial = unique("BAT")
        await scheme.applied(await scheme.collect(serial))
    else:
        serial = await collected_at_operator(scheme, unique("op") if case == "another_operator" else operator)
        if case == "already_repurposed":
            await scheme.applied(await scheme.repurpose(serial, operator))
    before = dict(await scheme.battery(serial))
    await scheme.rejected(await scheme.repurpose(serial, operator), "custody_mismatch")
    assert dict(await scheme.battery(serial)) == before
    assert await pool.fetchval("SELECT count(*) FROM scheme.repurposings WHERE serial = $1", serial) == (
        case == "already_repurposed"
    )


async def test_a_repurposing_of_an_unknown_battery_or_from_another_source_is_refused(scheme, pool):
    unknown = unique("NEW")  # not a collected battery in the operator's custody: custody_mismatch (8.3)
    await scheme.rejected(await scheme.repurpose(unknown, unique("op")), "custody_mismatch")
    assert await scheme.battery(unknown) is None
    operator = unique("op")
    serial = await collected_at_operator(scheme, operator)
    await scheme.rejected(await scheme.repurpose(serial, operator, source_id=unique("op")), "source_mismatch")
    await scheme.rejected(await scheme.repurpose(serial, operator, application="museum"), "schema_violation")
    assert (await scheme.battery(serial))["state"] == "collected"


# -- free take-back after a second life ---------------------------------------------------------------------


async def test_a_repurposed_battery_collected_again_is_taken_back_free_routed_again_and_the_books_balance(
    scheme, pool, topic_reader
):
    sku = unique("SKU")
    await scheme.applied(
        await scheme.terms(sku, 5000, 800, handling_fee=150)
    )  # a fee its first collection earns
    operator = unique("op")
    first_centre = scheme.centre
    serial = await collected_at_operator(scheme, operator, sku=sku, state_of_health_pct=70)
    await scheme.applied(await scheme.repurpose(serial, operator))
    scheme.centre = unique("centre")  # its second life over, it comes back elsewhere
    async with topic_reader(topics.ROUTING) as routing:
        again = await scheme.collect(serial, state_of_health_pct=30, refund={"method": "cash"})
        assert (await routed_once(scheme, routing, again))["route"] == "recycle"
    battery = await scheme.battery(serial)
    assert (battery["state"], battery["custodian_kind"], battery["custodian_id"]) == (
        "collected",
        "return_centre",
        scheme.centre,
    )
    assert (battery["deposit_refunded"], battery["deposit_charged"]) == (
        5000,
        5000,
    )  # refunded once, at first
    collections = await pool.fetch(
        "SELECT centre_id, outcome, handling_fee, route FROM scheme.collections WHERE serial = $1"
        " ORDER BY occurred_at",
        serial,
    )
    assert [tuple(c) for c in collections] == [
        (first_centre, "refunded", 150, "repurpose"),
        (scheme.centre, "taken_back_free", 0, "recycle"),
    ]
    assert await pool.fetchval("SELECT count(*) FROM scheme.refunds WHERE serial = $1", serial) == 1
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM scheme.postings WHERE subject = $1 AND caused_by = $2",
            serial,
            uuid.UUID(again["event_id"]),
        )
        == 0
    )
    history = await pool.fetch(
        "SELECT seq, at, event_type, state FROM scheme.custody_history WHERE serial = $1 ORDER BY seq", serial
    )
    assert [(h["event_type"], h["state"]) for h in history] == [
        ("sale.recorded", "in_use"),
        ("collection.logged", "collected"),
        ("custody.transferred", "collected"),
        ("battery.repurposed", "repurposed"),
        ("collection.logged", "collected"),
    ]
    assert [h["at"] for h in history] == sorted(h["at"] for h in history)
    assert [h["seq"] for h in history] == list(range(1, len(history) + 1))
    await scheme.rejected(await scheme.collect(serial), "already_returned")  # and not a third time
    await balanced(pool)


async def balanced(pool) -> None:
    """Reconciliation finds the books balanced, full and incremental, once the ledger has posted what the
    scheme asked."""
    for mode in ("full", "incremental"):

        async def settled(mode=mode):
            result = await reconcile(pool, mode=mode)
            return result if result["status"] == "balanced" else None

        try:
            await wait_for(settled)
        except AssertionError:
            result = await reconcile(pool, mode=mode)
            raise AssertionError((mode, [c for c in result["checks"] if not c["ok"]])) from None


# -- the second-life operator over HTTP (POST /v1/events with its own key) -----------------------------------

PREFER_WAIT = {"Prefer": "wait=10"}


def repurposing(operator: str, serial: str, source_id: str | None = None) -> dict:
    data = {"serial": serial, "operator_id": operator, "application": "vehicle"}
    return envelope("battery.repurposed", "second_life", source_id or operator, data)


async def decided(http, key: str, event: dict) -> dict:
    """POST /v1/events with Prefer: wait: what the scheme decided (contract 8.2)."""
    response = await http.post("/v1/events", json=event, headers={**bearer(key), **PREFER_WAIT})
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_operator_repurposes_over_http_with_its_key_and_is_told_each_outcome(scheme, http, new_key):
    operator = unique("op")
    key = await new_key("second_life", operator)
    serial = await collected_at_operator(scheme, operator, state_of_health_pct=75)
    event = repurposing(operator, serial)
    body = await decided(http, key, event)
    assert (body["event_id"], body["status"]) == (event["event_id"], "applied")
    battery = (await http.get(f"/v1/batteries/{serial}", headers=bearer(key))).json()
    assert (battery["state"], battery["custodian"]) == ("repurposed", {"kind": "second_life", "id": operator})
    passport = (await http.get(f"/v1/batteries/{serial}/passport", headers=bearer(key))).json()
    assert (passport["status"], passport["state_of_health_pct"]) == ("repurposed", 75)
    for refused in (repurposing(operator, serial), repurposing(operator, unique("NEW"))):  # again; unknown
        body = await decided(http, key, refused)
        assert (body["status"], body["outcome"]["reason"]) == ("rejected", "custody_mismatch"), body
        assert refused["data"]["serial"] in body["outcome"]["message"]


async def test_only_a_second_life_key_sends_a_repurposing_and_only_as_its_own_operator(
    scheme, http, new_key, pool
):
    operator = unique("op")
    serial = await collected_at_operator(scheme, operator)
    centre = await new_key("return_centre", scheme.centre)
    as_centre = envelope(
        "battery.repurposed",
        "return_centre",
        scheme.centre,
        {"serial": serial, "operator_id": scheme.centre, "application": "other"},
    )
    response = await http.post("/v1/events", json=as_centre, headers=bearer(centre))
    assert (response.status_code, response.json()["error"]) == (403, "type_not_allowed"), response.text
    other = await new_key("second_life", unique("op"))  # another operator's key
    response = await http.post("/v1/events", json=repurposing(operator, serial), headers=bearer(other))
    assert (response.status_code, response.json()["error"]) == (403, "not_your_source"), response.text
    mine = await new_key("second_life", operator)  # its own key, naming another operator in the data
    response = await http.post(
        "/v1/events", json=repurposing(unique("op"), serial, source_id=operator), headers=bearer(mine)
    )
    assert (response.status_code, response.json()["error"]) == (403, "source_mismatch"), response.text
    assert (await scheme.battery(serial))["state"] == "collected"
    assert await pool.fetchval("SELECT count(*) FROM scheme.repurposings WHERE serial = $1", serial) == 0
