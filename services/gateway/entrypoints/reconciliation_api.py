"""Reconciliation runs on request: `POST /v1/finance/reconciliation/runs` queues one (202), its URL follows
it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from services.gateway.domain.keys import KeyHolder
from services.gateway.entrypoints.bodies import ReconciliationRun
from services.gateway.entrypoints.dependencies import authorised, gateway_of
from services.gateway.entrypoints.parameters import Uuid
from services.gateway.entrypoints.responses import LOCATION_HEADER, refusals
from services.gateway.service_layer import reads

router = APIRouter(tags=["finance"])
RUNS_PATH = "/v1/finance/reconciliation/runs"
RunId = Annotated[Uuid, Path(description="The run's id, as `POST .../runs` answered it")]
FOLLOW_THE_RUN = {
    "GetReconciliationRun": {
        "operationId": "get_reconciliation_run",
        "parameters": {"run_id": "$response.body#/run_id"},
        "description": "Follow the run until its state is `completed` (or `failed`)",
    }
}


@router.post(
    RUNS_PATH,
    status_code=202,
    responses={
        202: {
            "model": ReconciliationRun,
            "description": "Queued (or already queued: the same run)",
            "headers": LOCATION_HEADER,
            "links": FOLLOW_THE_RUN,
        },
        **refusals(400, 401, 403, 429),
    },
)
async def request_reconciliation_run(
    request: Request, holder: KeyHolder = Depends(authorised)
) -> JSONResponse:
    """Ask for a fresh reconciliation run; its snapshot is taken after this request. One run goes at a time
    and one more waits: while one waits, every request gets that same run. Finance keys only."""
    run = reads.request_reconciliation(gateway_of(request).reconciliations, holder)
    return JSONResponse(
        jsonable_encoder(run), status_code=202, headers={"Location": f"{RUNS_PATH}/{run['run_id']}"}
    )


@router.get(
    RUNS_PATH + "/{run_id}",
    responses={
        200: {"model": ReconciliationRun},
        **refusals(400, 401, 403, 404, 429, 503, s404="No run with this id, made here or stored"),
    },
)
async def get_reconciliation_run(
    request: Request, run_id: RunId, holder: KeyHolder = Depends(authorised)
) -> JSONResponse:
    """A run's state (`queued`, `running`, `completed`, `failed`) and, once completed, its result.
    Finance keys only."""
    body = await reads.reconciliation_run(gateway_of(request).reconciliations, holder, run_id)
    return JSONResponse(jsonable_encoder(body))
