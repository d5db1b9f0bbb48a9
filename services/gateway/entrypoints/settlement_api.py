"""Closing the money cycle, read side (contract 8.1): settlement statements and the discrepancy list.
Finance keys only; JSON, or CSV with `Accept: text/csv`."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from contracts.queries import DISCREPANCY_KINDS, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Position
from services.gateway.domain.keys import KeyHolder
from services.gateway.entrypoints.bodies import DiscrepancyList, Settlement
from services.gateway.entrypoints.dependencies import authorised, gateway_of
from services.gateway.entrypoints.parameters import Cursor, Limit, PeriodBound
from services.gateway.entrypoints.representations import CSV_CONTENT, report_response, wants_csv
from services.gateway.entrypoints.responses import refusals
from services.gateway.service_layer import reads

router = APIRouter(tags=["finance"])
DISCREPANCIES_PATH = "/v1/discrepancies"
REFUSALS = refusals(400, 401, 403, 406, 429, 501, 503)
Kind = Literal[DISCREPANCY_KINDS]  # type: ignore[valid-type]
NEXT_PAGE_HEADER = {
    "Link": {
        "description": 'The next page: `<...&cursor=...>; rel="next"` (absent on the last)',
        "schema": {"type": "string"},
    }
}


@router.get(
    "/v1/finance/settlement", responses={200: {"model": Settlement, "content": CSV_CONTENT}, **REFUSALS}
)
async def get_settlement(
    request: Request,
    holder: Annotated[KeyHolder, Depends(authorised)],
    as_csv: Annotated[bool, Depends(wants_csv)],
    period_from: Annotated[
        PeriodBound,
        Query(
            alias="from",
            description="Start of the period, inclusive: a date (00:00 UTC) or an RFC 3339 instant",
        ),
    ],
    period_to: Annotated[
        PeriodBound,
        Query(
            alias="to", description="End, exclusive: a date (00:00 UTC) or an RFC 3339 instant; after `from`"
        ),
    ],
) -> Response:
    """Per counterparty (store, centre, recycler) and currency: opening balance, charges, payments and
    closing balance over [from, to) of the entries' `occurred_at`; positive is owed to the scheme, negative
    owed by it; closing = opening + charges + payments. Finance keys only."""
    body = await reads.settlement(gateway_of(request).read_models, holder, period_from, period_to)
    return report_response("settlement", body, as_csv)


@router.get(
    DISCREPANCIES_PATH,
    responses={
        200: {"model": DiscrepancyList, "content": CSV_CONTENT, "headers": NEXT_PAGE_HEADER},
        **REFUSALS,
    },
)
async def get_discrepancies(
    request: Request,
    holder: KeyHolder = Depends(authorised),
    as_csv: bool = Depends(wants_csv),
    status: Annotated[
        Literal["open", "resolved"] | None,
        Query(description="`open` (no resolution yet) or `resolved` (default: both)"),
    ] = None,
    kind: Annotated[Kind | None, Query(description="One kind (default: all)")] = None,
    limit: Annotated[
        Limit | None,
        Query(description=(f"Rows on this page, 1 to {PAGE_LIMIT_MAX} (default {PAGE_LIMIT_DEFAULT})")),
    ] = None,
    cursor: Annotated[
        Cursor | None, Query(description=("The `next_cursor` of the page before (default: the first page)"))
    ] = None,
) -> Response:
    """The discrepancies, newest first, each with its resolution (`resolution`, `note`, `resolved_at`,
    `resolved_by`; null while open), one page at a time: `next_cursor` (and the `Link` header) give the next.
    Finance keys only."""
    after = Position.of_cursor(cursor) if cursor is not None else None
    body = await reads.discrepancies(gateway_of(request).read_models, holder, status, kind, limit, after)
    headers = {}
    if body["next_cursor"]:
        asked = {name: value for name, value in request.query_params.items() if name != "cursor"}
        headers["Link"] = (
            f'<{DISCREPANCIES_PATH}?{urlencode({**asked, "cursor": body["next_cursor"]})}>; rel="next"'
        )
    return report_response("discrepancies", body, as_csv, headers)
