"""Reads: a battery (any valid key); balances, reconciliation and reports (finance keys only)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from contracts.enums import Category
from services.gateway.domain.keys import KeyHolder
from services.gateway.entrypoints.bodies import Balances, Battery, Reconciliation, Refusal, Report
from services.gateway.entrypoints.dependencies import gateway_of, key_holder
from services.gateway.service_layer import reads

router = APIRouter()
YEAR_MIN, YEAR_MAX = 2000, 2100
Serial = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="The battery's serial")]
Year = Annotated[int | None, Query(ge=YEAR_MIN, le=YEAR_MAX, description="Calendar year (default: all years)")]


def _refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {401: "No key, or a malformed, unknown or revoked key", 403: "Not a finance key",
                 404: "No battery with this serial", 501: "This read model is not part of this build"}
    return {status: {"model": Refusal, "description": described[status]} for status in statuses}


def _answer(body: dict) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body))


@router.get("/v1/batteries/{serial}", responses={200: {"model": Battery}, **_refusals(401, 404, 501)},
            tags=["batteries"])
async def get_battery(request: Request, serial: Serial, holder: KeyHolder = Depends(key_holder)) -> JSONResponse:
    """State, contract, deposit charged and refunded, custodian and the whole custody history.
    Any valid key may read a battery (producer or finance role)."""
    return _answer(await reads.battery(gateway_of(request).pool, holder, serial))


@router.get("/v1/finance/balances", responses={200: {"model": Balances}, **_refusals(401, 403, 501)},
            tags=["finance"])
async def get_balances(request: Request, holder: KeyHolder = Depends(key_holder),
                       as_of: Annotated[AwareDatetime | None,
                                        Query(description="RFC 3339 instant with an offset (default: now)")] = None,
                       ) -> JSONResponse:
    """Every ledger account's debit and credit totals, per currency. Finance keys only."""
    return _answer(await reads.balances(gateway_of(request).pool, holder, as_of))


@router.get("/v1/finance/reconciliation", responses={200: {"model": Reconciliation}, **_refusals(401, 403, 501)},
            tags=["finance"])
async def get_reconciliation(request: Request, holder: KeyHolder = Depends(key_holder)) -> JSONResponse:
    """Checks that the books agree with the batteries; `balanced` when every check is ok. Finance keys only."""
    return _answer(await reads.reconciliation(gateway_of(request).pool, holder))


@router.get("/v1/reports/collection", responses={200: {"model": Report}, **_refusals(401, 403, 501)},
            tags=["reports"])
async def get_collection_report(request: Request, year: Year = None, category: Category | None = None,
                                holder: KeyHolder = Depends(key_holder)) -> JSONResponse:
    """Batteries sold, collected and the collection rate, per category. Finance keys only."""
    return _answer(await reads.collection_report(gateway_of(request).pool, holder, year, category))


@router.get("/v1/reports/recovery", responses={200: {"model": Report}, **_refusals(401, 403, 501)},
            tags=["reports"])
async def get_recovery_report(request: Request, year: Year = None,
                              holder: KeyHolder = Depends(key_holder)) -> JSONResponse:
    """Recovered mass and recovery rate per material. Finance keys only."""
    return _answer(await reads.recovery_report(gateway_of(request).pool, holder, year))
