"""The gateway's edges through the real app with fakes: media type (415), strict parameters (400), rate limits
(429 with Retry-After), and reconciliation served from the latest run, runs queued one at a time."""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from contextlib import asynccontextmanager

import pytest
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.gateway.adapters.event_publisher import RecordingEventPublisher
from services.gateway.adapters.key_repository import InMemoryKeyRepository
from services.gateway.adapters.reconciliation_runs import InMemoryReconciliationRuns
from services.gateway.bootstrap import build_gateway
from services.gateway.domain.keys import default_role, issue_key
from services.gateway.entrypoints.app import create_app

RUN_S = 0.2  # how long the fake reconciliation takes
RECONCILIATION = "/v1/finance/reconciliation"


class FakeReconciliation:
    def __init__(self) -> None:
        self.runs = 0

    async def __call__(self) -> dict:
        self.runs += 1
        await asyncio.sleep(RUN_S)
        return {
            "status": "balanced",
            "as_of": f"2026-12-01T10:00:{self.runs:02d}+00:00",
            "checks": [],
            "open_discrepancies": [],
        }


def make_client(repository, reconcile=None, runs=None, **settings) -> TestClient:
    @asynccontextmanager
    async def fake_gateway(settings):
        gateway = build_gateway(
            settings,
            publisher=RecordingEventPublisher(),
            key_repository=repository,
            reconcile=reconcile or FakeReconciliation(),
            reconciliation_runs=runs or InMemoryReconciliationRuns(),
        )
        gateway.ready = True
        yield gateway

    return TestClient(create_app(Settings(**settings), fake_gateway))


def key_for(repository: InMemoryKeyRepository, kind: str, source_id: str) -> dict[str, str]:
    plaintext, stored = issue_key(kind, source_id, default_role(kind))
    repository.keys[stored.key_id] = stored
    return {"Authorization": f"Bearer {plaintext}"}


def terms() -> bytes:
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": "terms.published",
            "version": 1,
            "occurred_at": "2026-01-01T00:00:00Z",
            "source": {"kind": "finance", "id": "finance-1"},
            "data": {
                "sku": "EB-500",
                "deposit": 5000,
                "recycling_fee": 800,
                "currency": "EUR",
                "effective_from": "2026-01-01T00:00:00Z",
            },
        }
    ).encode()


@pytest.fixture
def repository():
    return InMemoryKeyRepository()


@pytest.fixture
def client(repository):
    with make_client(repository) as client:
        yield client


@pytest.mark.parametrize(
    "content_type, status",
    [
        ("application/json", 202),
        ("application/json; charset=utf-8", 202),
        ("Application/JSON;charset=UTF-8", 202),
        ("text/plain", 415),
        (None, 415),
        ("application/json; charset=latin-1", 415),
        ("application/json-patch+json", 415),
        ("application/json; version=2", 415),
        ("multipart/form-data", 415),
    ],
)
def test_a_body_that_is_not_json_is_415(client, repository, content_type, status):
    headers = key_for(repository, "finance", "finance-1")
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/v1/events", content=terms(), headers=headers)
    assert response.status_code == status, response.text
    if status == 415:
        assert response.json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "as_of",
    [
        "0.5",
        "1700000000",
        "2026-01-01T00:00:00",
        "2026-01-01",
        "2026-02-30T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2026-01-01 00:00:00Z",
        "now",
    ],
)
def test_an_instant_is_rfc_3339_with_an_offset_and_nothing_else(client, repository, as_of):
    response = client.get(
        "/v1/finance/balances", params={"as_of": as_of}, headers=key_for(repository, "finance", "finance-1")
    )
    assert response.status_code == 400, response.text
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [("query.as_of", "instant")]
    assert "RFC 3339" in response.json()["message"]


@pytest.mark.parametrize("year", ["2026.0", " 2026", "+2026", "2_026", "02026", "1999", "2101", "twenty"])
def test_a_year_is_four_digits_in_range(client, repository, year):
    response = client.get(
        "/v1/reports/recovery", params={"year": year}, headers=key_for(repository, "finance", "finance-1")
    )
    assert response.status_code == 400, response.text
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [("query.year", "year")]


@pytest.mark.parametrize(
    "query, rule",
    [
        ("category=lithium", "literal_error"),
        ("yaer=2026", "unknown_parameter"),
        ("year=2026&year=2027", "repeated_parameter"),
    ],
)
def test_an_unknown_value_or_parameter_is_400(client, repository, query, rule):
    response = client.get(
        f"/v1/reports/collection?{query}", headers=key_for(repository, "finance", "finance-1")
    )
    assert response.status_code == 400, response.text
    assert rule in {e["rule"] for e in response.json()["errors"]}


def test_a_key_over_its_rate_is_429_with_retry_after_and_counted(repository):
    with make_client(repository, http_key_rate_per_s=0.5, http_key_burst=3) as client:
        headers = key_for(repository, "finance", "finance-1")
        statuses = [client.get(RECONCILIATION, headers=headers).status_code for _ in range(5)]
        other = client.get(RECONCILIATION, headers=key_for(repository, "finance", "finance-2"))
        limited = client.get(RECONCILIATION, headers=headers)
        metrics = client.get("/metrics").text
    assert statuses[3:] == [429, 429] and other.status_code != 429
    assert limited.json()["error"] == "rate_limited" and limited.headers["retry-after"] == "2"
    assert 'takeback_gateway_rate_limited_total{kind="key"} 3.0' in metrics


def test_failed_authentications_lock_the_address_out_and_no_key_is_looked_up(repository):
    with make_client(repository, http_auth_failure_rate_per_s=0.1, http_auth_failure_burst=5) as client:
        valid = key_for(repository, "pos", "store-1")
        bad = {"Authorization": "Bearer tbk_0123456789abcdef_" + "A" * 43}
        started = time.monotonic()
        statuses = [client.get("/v1/batteries/BAT-1", headers=bad).status_code for _ in range(20)]
        lookups = repository.lookups
        also_refused = client.get("/v1/batteries/BAT-1", headers=valid)
        elapsed_s = time.monotonic() - started
        metrics = client.get("/metrics").text
    assert statuses == [401] * 5 + [429] * 15
    assert repository.lookups == lookups == 5
    assert (also_refused.status_code, also_refused.json()["error"]) == (
        429,
        "too_many_failed_authentications",
    )
    # A token comes back every 10 s (0.1 a second), counted from when the burst ran out: the wait told is
    # 10 s less the time since, rounded up (on a busy machine the 21 requests take a second or more).
    assert math.ceil(10 - elapsed_s) <= int(also_refused.headers["retry-after"]) <= 10
    assert 'takeback_gateway_rate_limited_total{kind="address"} 16.0' in metrics
    assert 'takeback_gateway_rate_limit_buckets{kind="address"} 1.0' in metrics


def test_the_reconciliation_is_the_latest_run_and_a_read_starts_none_but_the_first(repository):
    reconcile = FakeReconciliation()
    with make_client(repository, reconcile=reconcile) as client:
        headers = key_for(repository, "finance", "finance-1")
        first = client.get("/v1/finance/reconciliation", headers=headers)
        again = [client.get("/v1/finance/reconciliation", headers=headers).json() for _ in range(5)]
    assert first.status_code == 200 and reconcile.runs == 1
    assert {body["run_id"] for body in again} == {first.json()["run_id"]}
    assert first.json()["as_of"] == "2026-12-01T10:00:01+00:00"


def test_runs_asked_for_while_one_waits_are_that_run(repository):
    reconcile = FakeReconciliation()
    with make_client(repository, reconcile=reconcile) as client:
        headers = key_for(repository, "finance", "finance-1")
        answers = [client.post("/v1/finance/reconciliation/runs", headers=headers) for _ in range(20)]
        run_ids = [answer.json()["run_id"] for answer in answers]
        assert all(answer.status_code == 202 for answer in answers)
        assert answers[0].headers["location"] == f"/v1/finance/reconciliation/runs/{run_ids[0]}"
        deadline = time.monotonic() + 10
        while (run := client.get(answers[-1].headers["location"], headers=headers).json())[
            "state"
        ] != "completed":
            assert time.monotonic() < deadline, run
            time.sleep(0.05)
        latest = client.get("/v1/finance/reconciliation", headers=headers).json()
    assert len(set(run_ids)) <= 2 and reconcile.runs == len(set(run_ids))
    assert run["result"]["run_id"] == run_ids[-1] == latest["run_id"]


def test_a_run_is_for_finance_keys_and_an_unknown_run_is_404(client, repository):
    pos, finance = key_for(repository, "pos", "store-1"), key_for(repository, "finance", "finance-1")
    assert client.post("/v1/finance/reconciliation/runs", headers=pos).status_code == 403
    unknown = client.get(f"/v1/finance/reconciliation/runs/{uuid.uuid4()}", headers=finance)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_run")
    malformed = client.get(
        "/v1/finance/reconciliation/runs/2b7c1f0e5d0a4b539a8e3c1f2d9e8a11", headers=finance
    )
    assert (malformed.status_code, malformed.json()["errors"][0]["rule"]) == (400, "uuid")
