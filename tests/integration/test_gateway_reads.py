"""Reads through real HTTP: batteries for any key, the books for finance keys; health, metrics, logs."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import unique, wait_for
from tests.integration.test_gateway_support import bearer, gateway, gateway_url, http, new_key, sale  # noqa: F401

FINANCE_READS = {
    "balances": "/v1/finance/balances",
    "reconciliation": "/v1/finance/reconciliation",
    "collection": "/v1/reports/collection?year=2026",
    "recovery": "/v1/reports/recovery?year=2026",
}


@pytest.fixture
async def finance_key(new_key):
    return await new_key("finance", unique("finance"))


def streams_running(settings) -> bool:
    try:
        return (
            httpx.get(f"http://127.0.0.1:{settings.streams_metrics_port}/healthz", timeout=1).status_code
            == 200
        )
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("kind", ["pos", "finance"])
async def test_any_valid_key_may_ask_for_a_battery(http, new_key, kind):
    key = await new_key(kind, unique(kind))
    response = await http.get(f"/v1/batteries/{unique('BAT')}", headers=bearer(key))
    assert (response.status_code, response.json()["error"]) == (404, "unknown_battery")


async def test_a_serial_outside_the_contract_is_400(http, finance_key):
    response = await http.get("/v1/batteries/BAT%20one", headers=bearer(finance_key))
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


async def test_a_battery_sold_over_http_reads_back_with_its_history(http, new_key, settings):
    if not streams_running(settings):
        pytest.skip("the streams worker is not running: nothing applies the sale")
    store, serial = unique("store"), unique("BAT")
    key = await new_key("pos", store)
    assert (
        await http.post("/v1/events", json=sale(store, serial=serial), headers=bearer(key))
    ).status_code == 202

    async def battery():
        response = await http.get(f"/v1/batteries/{serial}", headers=bearer(key))
        return response.json() if response.status_code == 200 else None

    body = await wait_for(battery)
    assert (body["serial"], body["state"], body["contract"], body["deposit_charged"]) == (
        serial,
        "in_use",
        "deposit",
        5000,
    )
    assert [step["event_type"] for step in body["history"]] == ["sale.recorded"]


@pytest.mark.parametrize("read", FINANCE_READS)
async def test_a_finance_key_reads_the_books(http, finance_key, read):
    response = await http.get(FINANCE_READS[read], headers=bearer(finance_key))
    assert response.status_code == 200, response.text
    assert isinstance(response.json(), dict)


async def test_healthz_says_ok(http):
    response = await http.get("/healthz")
    assert (response.status_code, response.json()["status"]) == (200, "ok")


async def test_metrics_count_requests_and_events_and_read_the_scheme(http, new_key):
    store = unique("store")
    key = await new_key("pos", store)
    await http.post("/v1/events", json=sale(store), headers=bearer(key))
    await http.post("/v1/events", json=sale(unique("store")), headers=bearer(key))
    text = (await http.get("/metrics")).text
    assert 'takeback_gateway_events_total{outcome="accepted",reason="",type="sale.recorded"}' in text
    assert (
        'takeback_gateway_events_total{outcome="refused",reason="not_your_source",type="sale.recorded"}'
        in text
    )
    assert 'takeback_gateway_http_requests_total{method="POST",route="/v1/events",status="202"}' in text
    assert "takeback_gateway_produce_seconds_bucket" in text
    assert "takeback_scheme_events_total{" in text  # read from scheme.inbox at scrape time
    assert "\ntakeback_gateway_scrape_errors_total{" not in text  # every scheme figure was read


async def test_the_access_log_is_json_and_never_holds_key_material(http, gateway, new_key):
    store = unique("store")
    key = await new_key("pos", store)
    forged = key[:-43] + "Z" * 43
    await http.post("/v1/events", json=sale(store), headers=bearer(key))
    await http.post("/v1/events", json=sale(store), headers=bearer(forged))
    lines = [json.loads(line) for line in gateway.log_path.read_text().splitlines() if line.startswith("{")]
    requests = [
        line for line in lines if line.get("event") == "http_request" and line["path"] == "/v1/events"
    ]
    assert {"status", "route", "duration_ms", "method"} <= set(requests[-1])
    assert any(line.get("key_id") == key.split("_")[1] and line["status"] == 202 for line in requests)
    log_text = gateway.log_path.read_text()
    assert key[-43:] not in log_text and forged[-43:] not in log_text and "Bearer" not in log_text
