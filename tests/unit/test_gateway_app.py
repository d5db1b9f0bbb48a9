"""The app through the real bootstrap with in-memory keys and a recording publisher (no Kafka, no
PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from contextlib import asynccontextmanager

import asyncpg
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from services.common.settings import Settings
from services.gateway.adapters.event_publisher import RecordingEventPublisher
from services.gateway.adapters.key_repository import InMemoryKeyRepository
from services.gateway.bootstrap import build_gateway
from services.gateway.domain.keys import default_role, issue_key
from services.gateway.entrypoints.app import create_app
from services.gateway.entrypoints.dependencies import bearer, presented_key

BODY_MAX_BYTES = 2048


@pytest.fixture
def fakes():
    return RecordingEventPublisher(), InMemoryKeyRepository()


@pytest.fixture
def client(fakes):
    publisher, repository = fakes

    @asynccontextmanager
    async def fake_gateway(settings):
        gateway = build_gateway(settings, publisher=publisher, key_repository=repository)
        gateway.ready = True
        yield gateway

    with TestClient(create_app(Settings(http_body_max_bytes=BODY_MAX_BYTES), fake_gateway)) as client:
        yield client


def key_for(repository: InMemoryKeyRepository, kind: str, source_id: str) -> dict[str, str]:
    plaintext, stored = issue_key(kind, source_id, default_role(kind))
    repository.keys[stored.key_id] = stored  # the app's own loop runs in the client's thread
    return {"Authorization": f"Bearer {plaintext}", "Content-Type": "application/json"}


def terms(source_id: str = "finance-1") -> bytes:
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": "terms.published",
            "version": 1,
            "occurred_at": "2026-01-01T00:00:00Z",
            "source": {"kind": "finance", "id": source_id},
            "data": {
                "sku": "EB-500",
                "deposit": 5000,
                "recycling_fee": 800,
                "currency": "EUR",
                "effective_from": "2026-01-01T00:00:00Z",
            },
        }
    ).encode()


def test_an_accepted_event_is_published_as_sent(client, fakes):
    publisher, repository = fakes
    body = terms()
    response = client.post("/v1/events", content=body, headers=key_for(repository, "finance", "finance-1"))
    assert response.status_code == 202
    assert publisher.published == [("takeback.terms", "EB-500", body)]


def test_refused_requests_publish_nothing(client, fakes):
    publisher, repository = fakes
    headers = key_for(repository, "finance", "finance-1")
    assert client.post("/v1/events", content=terms()).status_code == 401
    assert client.post("/v1/events", content=terms("finance-2"), headers=headers).status_code == 403
    assert client.post("/v1/events", content=b"{}", headers=headers).status_code == 400
    assert client.post("/v1/events", content=b" " * (BODY_MAX_BYTES + 1), headers=headers).status_code == 413
    assert publisher.published == []


def test_refusals_are_counted_by_reason(client, fakes):
    client.post("/v1/events", content=terms())
    metrics = client.get("/metrics").text
    assert (
        'takeback_gateway_events_total{outcome="refused",reason="missing_key",type="unknown"} 1.0' in metrics
    )


def test_a_finance_read_with_a_producer_key_is_403_before_any_read(client, fakes):
    headers = key_for(fakes[1], "pos", "store-1")
    response = client.get("/v1/finance/reconciliation", headers=headers)
    assert (response.status_code, response.json()["error"]) == (403, "finance_only")


def test_health_and_a_naive_as_of_is_400(client, fakes):
    assert client.get("/healthz").json() == {"status": "ok"}
    headers = key_for(fakes[1], "finance", "finance-1")
    response = client.get("/v1/finance/balances", params={"as_of": "2026-01-01T00:00:00"}, headers=headers)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


class AwayKeyRepository(InMemoryKeyRepository):
    """Its database away: every read raises what the driver raises then."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    async def get(self, key_id: str):
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
    ],
    ids=type,
)
@pytest.mark.parametrize(
    "method, path, body",
    [("POST", "/v1/events", terms()), ("GET", "/v1/batteries/BAT-1", None)],
    ids=["post event", "read"],
)
def test_the_database_away_is_503_with_retry_after_not_a_500(error, method, path, body):
    publisher = RecordingEventPublisher()

    @asynccontextmanager
    async def gateway_without_database(settings):
        repository = AwayKeyRepository(error)
        gateway = build_gateway(settings, publisher=publisher, key_repository=repository)
        gateway.ready = True
        yield gateway

    plaintext, _ = issue_key("finance", "finance-1", default_role("finance"))
    headers = {"Authorization": f"Bearer {plaintext}", "Content-Type": "application/json"}
    with TestClient(create_app(Settings(), gateway_without_database)) as client:
        response = client.request(method, path, content=body, headers=headers)
    assert (response.status_code, response.json()["error"]) == (503, "database_unavailable")
    assert int(response.headers["Retry-After"]) >= 1
    assert type(error).__name__ in response.json()["message"]
    assert publisher.published == []


class UnreachableKafka:
    async def lag(self):
        raise ConnectionError("no broker")


def test_a_metrics_source_that_fails_is_counted_and_the_scrape_still_answers(fakes):
    publisher, repository = fakes

    @asynccontextmanager
    async def gateway_without_kafka(settings):
        gateway = build_gateway(
            settings, publisher=publisher, key_repository=repository, lag_reader=UnreachableKafka()
        )
        gateway.ready = True
        yield gateway

    with TestClient(create_app(Settings(), gateway_without_kafka)) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert 'takeback_gateway_scrape_errors_total{source="kafka"} 1.0' in response.text


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer  tbk_x ",
        "bearer tbk_x",
        "BEARER tbk_x",
        "Basic tbk_x",
        "Bearertbk_x",
        " Bearer tbk_x",
        "Bearer tbk_x tbk_y",
    ],
)
async def test_post_event_reads_the_bearer_key_exactly_as_the_other_operations_do(authorization):
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    credentials = await bearer(Request({"type": "http", "headers": headers}))
    assert presented_key(authorization) == (credentials.credentials if credentials else None)
