"""`/healthz` (200 once the producer and the pool are ready) and `/metrics` (Prometheus text)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from services.gateway.entrypoints.bodies import Health
from services.gateway.entrypoints.dependencies import gateway_of

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
async def healthz(request: Request) -> JSONResponse:
    """Liveness and readiness: 200 once Kafka and PostgreSQL clients are started; `scheme` is the health
    report of the flow through the scheme (relays, parked events out, consumer lag, last reconciliation)."""
    gateway = gateway_of(request)
    body: dict = {"status": "ok" if gateway.ready else "starting"}
    if gateway.health is not None and gateway.health.report is not None:
        body["scheme"] = gateway.health.report
    return JSONResponse(body, status_code=200 if gateway.ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition",
        }
    },
)
async def metrics(request: Request) -> Response:
    """Requests, events accepted and refused, produce latency; and, read at scrape time, events
    applied and rejected by the scheme, consumer lag and posting latency."""
    gateway = gateway_of(request)
    await gateway.scheme_metrics.refresh()
    return Response(gateway.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})
