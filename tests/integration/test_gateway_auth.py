"""Every authorisation rule of the gateway, through real HTTP: 401 for keys, 403 for what a key may do."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.common.settings import PROJECT_ROOT
from services.gateway.domain.keys import parse_presented
from services.gateway.service_layer.authentication import KEY_CACHE_TTL_S
from tests.conftest import envelope, unique
from tests.integration.test_gateway_support import bearer, gateway, gateway_url, http, new_key, sale  # noqa: F401

FINANCE_PATHS = [
    "/v1/finance/balances",
    "/v1/finance/reconciliation",
    "/v1/reports/collection?year=2026&category=lmt",
    "/v1/reports/recovery?year=2026",
]


async def refusal(response, status: int, reason: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == reason, body
    assert body["message"]
    return body


async def test_no_key_is_401(http):
    response = await http.post("/v1/events", json=sale("store-1"))
    await refusal(response, 401, "missing_key")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_an_unknown_key_is_401(http):
    made_up = "tbk_0123456789abcdef_" + "A" * 43
    await refusal(
        await http.post("/v1/events", json=sale("store-1"), headers=bearer(made_up)), 401, "unknown_key"
    )


async def test_a_known_key_id_with_another_secret_is_401(http, new_key):
    key = await new_key("pos", unique("store"))
    forged = key[:-43] + ("B" * 43 if key[-1] != "B" else "C" * 43)
    await refusal(
        await http.post("/v1/events", json=sale("store-1"), headers=bearer(forged)), 401, "unknown_key"
    )


async def test_a_malformed_key_is_401(http):
    await refusal(await http.get("/v1/batteries/BAT-1", headers=bearer("hunter2")), 401, "malformed_key")


async def test_a_revoked_key_is_401(http, new_key):
    store = unique("store")
    key = await new_key("pos", store, revoked=True)
    await refusal(await http.post("/v1/events", json=sale(store), headers=bearer(key)), 401, "revoked_key")


async def test_a_key_revoked_while_in_use_is_refused_within_the_cache_lifetime(http, new_key, owner_pool):
    store = unique("store")
    key = await new_key("pos", store)
    assert (await http.post("/v1/events", json=sale(store), headers=bearer(key))).status_code == 202
    key_id = key.split("_")[1]
    await owner_pool.execute("UPDATE gateway.api_keys SET revoked_at = now() WHERE key_id = $1", key_id)
    await asyncio.sleep(KEY_CACHE_TTL_S + 0.2)
    await refusal(await http.post("/v1/events", json=sale(store), headers=bearer(key)), 401, "revoked_key")


async def test_a_type_the_keys_kind_may_not_send_is_403(http, new_key):
    store = unique("store")
    key = await new_key("pos", store)
    collection = envelope(
        "collection.logged",
        "pos",
        store,
        {
            "collection_id": unique("C"),
            "centre_id": store,
            "serial": unique("BAT"),
            "condition": "functional",
        },
    )
    await refusal(
        await http.post("/v1/events", json=collection, headers=bearer(key)), 403, "type_not_allowed"
    )


async def test_sending_as_another_source_id_is_403(http, new_key):
    store, other = unique("store"), unique("store")
    key = await new_key("pos", store)
    await refusal(
        await http.post("/v1/events", json=sale(other), headers=bearer(key)), 403, "not_your_source"
    )


async def test_sending_as_another_source_kind_is_403(http, new_key):
    store = unique("store")
    key = await new_key("pos", store)
    transfer = envelope(
        "custody.transferred",
        "transporter",
        store,
        {
            "serial": unique("BAT"),
            "from": {"kind": "return_centre", "id": "centre-1"},
            "to": {"kind": "transporter", "id": store},
            "reason": "transport",
        },
    )
    await refusal(await http.post("/v1/events", json=transfer, headers=bearer(key)), 403, "not_your_source")


async def test_a_store_id_other_than_the_keys_source_is_403(http, new_key):
    store = unique("store")
    key = await new_key("pos", store)
    event = sale(unique("store"), source_id=store)  # source is the key's; data.store_id is not
    body = await refusal(
        await http.post("/v1/events", json=event, headers=bearer(key)), 403, "source_mismatch"
    )
    assert "data.store_id" in body["message"]


@pytest.mark.parametrize("path", FINANCE_PATHS)
async def test_a_finance_endpoint_with_a_pos_key_is_403(http, new_key, path):
    key = await new_key("pos", unique("store"))
    await refusal(await http.get(path, headers=bearer(key)), 403, "finance_only")


async def test_terms_are_sent_by_finance_keys_only(http, new_key):
    finance_id, store = unique("finance"), unique("store")
    data = {
        "sku": unique("SKU"),
        "deposit": 5000,
        "recycling_fee": 800,
        "currency": "EUR",
        "effective_from": "2026-01-01T00:00:00Z",
    }
    finance_key, pos_key = await new_key("finance", finance_id), await new_key("pos", store)
    accepted = await http.post(
        "/v1/events",
        json=envelope("terms.published", "finance", finance_id, data),
        headers=bearer(finance_key),
    )
    assert accepted.status_code == 202, accepted.text
    refused = await http.post(
        "/v1/events", json=envelope("terms.published", "finance", store, data), headers=bearer(pos_key)
    )
    await refusal(refused, 403, "type_not_allowed")


def takeback(*arguments: str) -> subprocess.CompletedProcess:
    command = Path(sys.executable).with_name("takeback")  # the installed command line
    return subprocess.run(
        [str(command), *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False
    )


async def test_a_key_made_with_the_command_line_works_until_revoked_with_it(http, owner_pool):
    store = unique("store")
    created = takeback("keys", "create", "--kind", "pos", "--id", store, "--json")
    assert created.returncode == 0, created.stderr
    made = json.loads(created.stdout)
    stored = await owner_pool.fetchrow("SELECT * FROM gateway.api_keys WHERE key_id = $1", made["key_id"])
    secret = parse_presented(made["key"])[1]  # as the key is parsed: the secret itself may hold "_"
    assert secret.encode() not in bytes(stored["secret_hash"]) + bytes(stored["salt"])
    listed = json.loads(takeback("keys", "list", "--json").stdout)
    assert {"key_id": made["key_id"], "kind": "pos", "id": store, "role": "producer"}.items() <= next(
        key for key in listed if key["key_id"] == made["key_id"]
    ).items()
    assert made["key"] not in takeback("keys", "list").stdout
    assert (await http.post("/v1/events", json=sale(store), headers=bearer(made["key"]))).status_code == 202
    assert takeback("keys", "revoke", made["key_id"]).returncode == 0
    await asyncio.sleep(KEY_CACHE_TTL_S + 0.2)
    await refusal(
        await http.post("/v1/events", json=sale(store), headers=bearer(made["key"])), 401, "revoked_key"
    )
    assert takeback("keys", "revoke", "feedfacefeedface").returncode == 1
