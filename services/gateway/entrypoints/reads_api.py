"""Reads: a battery (any valid key); balances, reconciliation and reports (finance keys only; JSON, or
CSV with `Accept: text/csv`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from contracts.enums import Category
from services.gateway.domain.keys import KeyHolder
from services.gateway.entrypoints.bodies import (
    Balances,
    Battery,
    Passport,
    Reconciliation,
    RecyclingEfficiency,
    Report,
)
from services.gateway.entrypoints.dependencies import authorised, gateway_of
from services.gateway.entrypoints.parameters import Instant, Year
from services.gateway.entrypoints.representations import CSV_CONTENT, report_response, wants_csv
from services.gateway.entrypoints.responses import refusals
from services.gateway.service_layer import reads

router = APIRouter()
Serial = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="The battery's serial")]
YearQuery = Annotated[Year | None, Query(description="Calendar year, four digits (default: all years)")]
FINANCE_REFUSALS = refusals(400, 401, 403, 406, 429, 501, 503)


def _answer(body: dict) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body))


@router.get(
    "/v1/batteries/{serial}",
    responses={
        200: {"model": Battery},
        **refusals(400, 401, 404, 429, 501, 503, s404="No battery with this serial"),
    },
    tags=["batteries"],
)
async def get_battery(
    request: Request, serial: Serial, holder: KeyHolder = Depends(authorised)
) -> JSONResponse:
    """State, contract, deposit charged and refunded, custodian and the whole custody history.
    Any valid key may read a battery (producer or finance role)."""
    return _answer(await reads.battery(gateway_of(request).read_models, holder, serial))


@router.get(
    "/v1/batteries/{serial}/passport",
    responses={
        200: {"model": Passport},
        **refusals(400, 401, 404, 429, 501, 503, s404="No battery with this serial"),
    },
    tags=["batteries"],
)
async def get_passport(
    request: Request, serial: Serial, holder: KeyHolder = Depends(authorised)
) -> JSONResponse:
    """The battery passport (contract 8.3): the fields of Regulation (EU) 2023/1542 Annex XIII the scheme
    holds (serial, category, chemistry, mass, status, last known state of health, custodian, custody
    chain). Any valid key may read it, as it may read the battery."""
    return _answer(await reads.passport(gateway_of(request).read_models, holder, serial))


@router.get(
    "/v1/finance/balances",
    responses={200: {"model": Balances, "content": CSV_CONTENT}, **FINANCE_REFUSALS},
    tags=["finance"],
)
async def get_balances(
    request: Request,
    holder: KeyHolder = Depends(authorised),
    as_csv: bool = Depends(wants_csv),
    as_of: Annotated[
        Instant | None,
        Query(description="RFC 3339 instant with an offset, years 1970 to 2999 (default: now)"),
    ] = None,
) -> Response:
    """Every ledger account's debit and credit totals, per currency. Finance keys only."""
    return report_response(
        "balances", await reads.balances(gateway_of(request).read_models, holder, as_of), as_csv
    )


@router.get(
    "/v1/finance/reconciliation",
    responses={200: {"model": Reconciliation, "content": CSV_CONTENT}, **FINANCE_REFUSALS},
    tags=["finance"],
)
async def get_reconciliation(
    request: Request, holder: KeyHolder = Depends(authorised), as_csv: bool = Depends(wants_csv)
) -> Response:
    """The latest completed reconciliation run (its `as_of` says when its snapshot was taken, `run_id` which
    run): the named checks that the books agree with the batteries, `balanced` when every check is ok.
    A read never starts a run, except the very first when none exists yet; ask for a fresh one with
    `POST /v1/finance/reconciliation/runs`. Finance keys only. As CSV: one row per check (per check and
    currency where it counts money); the open discrepancies are at `GET /v1/discrepancies`."""
    return report_response(
        "reconciliation", await reads.reconciliation(gateway_of(request).reconciliations, holder), as_csv
    )


@router.get(
    "/v1/reports/collection",
    responses={200: {"model": Report, "content": CSV_CONTENT}, **FINANCE_REFUSALS},
    tags=["reports"],
)
async def get_collection_report(
    request: Request,
    year: YearQuery = None,
    category: Annotated[Category | None, Query(description="Battery category")] = None,
    basis: Annotated[
        Literal["count", "weight"],
        Query(
            description="count: batteries collected over batteries sold in the year (section 6); weight: "
            "kilograms collected over the average kilograms placed on the market in the year and the two "
            "before (Annex XI, contract 8.3)"
        ),
    ] = "count",
    by: Annotated[
        Literal["country"] | None,
        Query(description="country: one row per country given on the sales and collections (weight only)"),
    ] = None,
    holder: KeyHolder = Depends(authorised),
    as_csv: bool = Depends(wants_csv),
) -> Response:
    """Batteries sold, collected and the collection rate, per category; with `basis=weight`, kilograms
    collected against the three-year average placed on the market, per category (and country with
    `by=country`). Finance keys only."""
    models = gateway_of(request).read_models
    body = await reads.collection_report(models, holder, year, category, basis, by)
    return report_response("collection" if basis == "count" else "collection_weight", body, as_csv)


@router.get(
    "/v1/reports/recovery",
    responses={200: {"model": Report, "content": CSV_CONTENT}, **FINANCE_REFUSALS},
    tags=["reports"],
)
async def get_recovery_report(
    request: Request,
    year: YearQuery = None,
    holder: KeyHolder = Depends(authorised),
    as_csv: bool = Depends(wants_csv),
) -> Response:
    """Recovered mass and recovery rate per material. Finance keys only."""
    return report_response(
        "recovery", await reads.recovery_report(gateway_of(request).read_models, holder, year), as_csv
    )


@router.get(
    "/v1/reports/recycling-efficiency",
    responses={200: {"model": RecyclingEfficiency, "content": CSV_CONTENT}, **FINANCE_REFUSALS},
    tags=["reports"],
)
async def get_recycling_efficiency(
    request: Request,
    year: YearQuery = None,
    holder: KeyHolder = Depends(authorised),
    as_csv: bool = Depends(wants_csv),
) -> Response:
    """Recycling efficiency per chemistry group (lead-acid, lithium, nickel-cadmium, other): output over input
    mass of the lots recovered in the year, against Annex XII Part B (contract 8.3). Finance keys only."""
    body = await reads.recycling_efficiency(gateway_of(request).read_models, holder, year)
    return report_response("recycling_efficiency", body, as_csv)
