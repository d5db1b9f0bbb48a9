"""End to end through HTTP only: a battery's whole life, read back, and a realistic mixed run that
balances."""

from __future__ import annotations

from decimal import Decimal as D

import httpx
import pytest

from services.demo.runner import Demo
from services.gateway.adapters.key_repository import PostgresKeyRepository
from services.gateway.service_layer.keys import create_key
from tests.conftest import envelope, unique, wait_for


@pytest.fixture
async def http(stack, settings):
    async with httpx.AsyncClient(
        base_url=f"http://{settings.http_host}:{settings.http_port}", timeout=30
    ) as client:
        yield client


async def key_for(pool, kind: str, source_id: str) -> dict:
    async with pool.acquire() as connection:
        plaintext, _ = await create_key(PostgresKeyRepository(connection), kind, source_id)
    return {"Authorization": f"Bearer {plaintext}"}


async def test_a_battery_lives_its_whole_life_over_http_and_reads_back(http, pool, owner_pool):
    store, centre, haul, recycler = unique("store"), unique("centre"), unique("haul"), unique("rec")
    keys = {
        kind: await key_for(owner_pool, kind, source)
        for kind, source in (
            ("pos", store),
            ("return_centre", centre),
            ("transporter", haul),
            ("recycler", recycler),
            ("finance", unique("finance")),
        )
    }
    serial, lot_id = unique("BAT"), unique("L")

    async def send(kind: str, event_type: str, data: dict) -> str:
        source = {"pos": store, "return_centre": centre, "transporter": haul, "recycler": recycler}[kind]
        event = envelope(event_type, kind, source, data)
        response = await http.post("/v1/events", json=event, headers=keys[kind])
        assert response.status_code == 202, response.text
        assert response.json() == {"event_id": event["event_id"], "status": "accepted"}
        await wait_for(
            lambda: pool.fetchval(
                "SELECT outcome FROM scheme.inbox WHERE event_id = $1::uuid", event["event_id"]
            )
        )
        return event["event_id"]

    await send(
        "pos",
        "sale.recorded",
        {
            "sale_id": unique("S"),
            "store_id": store,
            "currency": "EUR",
            "items": [
                {
                    "serial": serial,
                    "sku": "EB-500",
                    "category": "lmt",
                    "chemistry": "li-ion-nmc",
                    "mass_kg": 2.8,
                    "deposit": 5000,
                    "recycling_fee": 800,
                }
            ],
        },
    )
    await send(
        "return_centre",
        "collection.logged",
        {
            "collection_id": unique("C"),
            "centre_id": centre,
            "serial": serial,
            "condition": "damaged",
            "refund": {"method": "card"},
        },
    )
    await send(
        "return_centre",
        "lot.dispatched",
        {
            "lot_id": lot_id,
            "centre_id": centre,
            "recycler_id": recycler,
            "serials": [serial],
            "gross_mass_kg": 2.8,
        },
    )
    await send(
        "transporter",
        "custody.transferred",
        {
            "serial": serial,
            "reason": "transport",
            "from": {"kind": "return_centre", "id": centre},
            "to": {"kind": "transporter", "id": haul},
        },
    )
    await send(
        "recycler",
        "lot.received",
        {"lot_id": lot_id, "recycler_id": recycler, "serials_received": [serial], "gross_mass_kg": 2.8},
    )
    await send(
        "recycler",
        "recovery.confirmed",
        {
            "lot_id": lot_id,
            "recycler_id": recycler,
            "input_mass_kg": 2.8,
            "cost": 420,
            "currency": "EUR",
            "recovered": [{"material": "cobalt", "mass_kg": 0.12}],
        },
    )

    battery = (await http.get(f"/v1/batteries/{serial}", headers=keys["pos"])).json()
    assert (battery["state"], battery["deposit_charged"], battery["deposit_refunded"]) == (
        "recycled",
        5000,
        5000,
    )
    assert battery["custodian"] == {"kind": "recycler", "id": recycler}
    assert [h["event_type"] for h in battery["history"]] == [
        "sale.recorded",
        "collection.logged",
        "lot.dispatched",
        "custody.transferred",
        "lot.received",
        "recovery.confirmed",
    ]
    assert [h["state"] for h in battery["history"]] == [
        "in_use",
        "collected",
        "in_transit",
        "in_transit",
        "at_recycler",
        "recycled",
    ]

    async def posted() -> dict | None:
        body = (await http.get("/v1/finance/balances", headers=keys["finance"])).json()
        mine = {
            b["account"]: (b["debit"], b["credit"])
            for b in body["balances"]
            if b["account"].endswith((store, centre, recycler))
        }
        return mine if len(mine) == 3 else None

    # The refund, and the handling fee of the sku's terms if finance published one (the demo does; contract
    # 8.1).
    fee = await pool.fetchval("SELECT handling_fee FROM scheme.collections WHERE serial = $1", serial)
    assert await wait_for(posted) == {
        f"clearing:store:{store}": (5800, 0),
        f"clearing:centre:{centre}": (0, 5000 + fee),
        f"payable:recycler:{recycler}": (0, 420),
    }
    for path in ("/v1/finance/reconciliation", "/v1/reports/collection", "/v1/reports/recovery"):
        assert (await http.get(path, headers=keys["finance"])).status_code == 200
    assert (await http.get("/v1/finance/balances", headers=keys["pos"])).status_code == 403


async def test_a_realistic_mixed_run_reconciles_as_balanced_and_settles(stack, settings, owner_pool):
    """Hundreds of batteries through every event type, over HTTP and Kafka, finance settling every month,
    resolving the discrepancies and releasing unclaimed deposits once: every check holds, and every store,
    centre and the recycler ends with a closing balance of zero."""
    result = await Demo(settings, batteries=600, months=6, seed=11, progress=lambda *_: None).run_all()
    failed = [check for check in result["reconciliation"]["checks"] if not check["ok"]]
    assert failed == []
    assert result["reconciliation"]["status"] == "balanced"
    finance = result["finance"]
    assert finance["settled"] and finance["closing"], finance  # every demo counterparty's closing is zero
    assert finance["payments"] > 0
    second_life = result["second_life"]  # contract 8.3: graded returns, some repurposed, some of those back
    assert set(second_life["routed"]) == {"reuse", "repurpose", "recycle", "inspect"}, second_life
    assert second_life["repurposed"] > 0 and second_life["collected_again"] > 0, second_life
    demo = {tuple(party.split(":", 1)) for party in finance["closing"]}
    rows = [
        r
        for r in result["settlement"]["statements"]
        if (r["counterparty"]["kind"], r["counterparty"]["id"]) in demo and r["currency"] == "EUR"
    ]
    for kind, sign in (
        ("store", -1),
        ("centre", 1),
        ("recycler", 1),
    ):  # stores paid; the scheme paid the rest
        mine = [r for r in rows if r["counterparty"]["kind"] == kind]
        assert mine and all(r["payments"] * sign > 0 and r["closing"] == 0 for r in mine), (kind, mine)
    balances = {(b["account"], b["currency"]): b for b in result["balances"]["balances"]}
    bank = balances[("bank:scheme", "EUR")]
    assert (
        bank["debit"] > 0 and bank["credit"] > 0
    )  # money received from stores, paid to centres and recycler
    assert finance["released"] and balances[("reserve:unclaimed_deposits", "EUR")]["credit"] > 0
    assert finance["resolutions"] > 0
    fees = finance["handling_fees"]  # the demo's terms pay the centres a handling fee per collection
    earned = await owner_pool.fetchrow(
        "SELECT count(*) AS collections, coalesce(sum(handling_fee), 0)::bigint AS amount"
        " FROM scheme.collections WHERE serial LIKE $1 AND handling_fee > 0",
        f"BAT-{finance['run']}-%",
    )
    assert fees["collections"] > 0 and (fees["collections"], fees["amount"]) == tuple(earned.values())
    weight = result["collection_weight"]  # contract 8.3: the reports for the regulator, by weight
    assert weight["basis"] == "weight" and any(D(r["collected_kg"]) > 0 for r in weight["rows"])
    efficiency = result["recycling_efficiency"]
    assert [g["group"] for g in efficiency["groups"]] == ["lead-acid", "lithium", "nickel-cadmium", "other"]
    assert efficiency["lots"] > efficiency["lots_without_output_mass"], efficiency
    assert {g["group"] for g in efficiency["groups"] if g["recycling_efficiency_percent"] is not None} >= {
        "lead-acid",
        "lithium",
    }, efficiency  # the demo sells lithium-ion and lead-acid batteries
    outputs = await owner_pool.fetch(  # the run's own lots: the recycler reported each one's output mass
        "SELECT output_mass_kg, input_mass_kg FROM scheme.recoveries WHERE lot_id LIKE $1",
        f"L-{finance['run']}-%",
    )
    assert outputs and all(0 < r["output_mass_kg"] <= r["input_mass_kg"] for r in outputs), outputs
    async with httpx.AsyncClient(base_url=f"http://{settings.http_host}:{settings.http_port}") as client:
        headers = await key_for(owner_pool, "finance", unique("finance"))
        by_status = {}
        for status in ("open", "resolved"):
            response = await client.get(
                "/v1/discrepancies", params={"status": status, "limit": "1000"}, headers=headers
            )
            tag = f"-{finance['run']}-"
            by_status[status] = [d for d in response.json()["discrepancies"] if tag in d["subject"]]
    assert by_status["open"] == []  # finance resolved every discrepancy of the run
    assert {d["resolution"] for d in by_status["resolved"]} >= {"returned_to_store", "written_off"}
