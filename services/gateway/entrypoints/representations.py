"""A report as JSON or as CSV, as the request's `Accept` header prefers (contract 8.1: every report answers
`Accept: text/csv`).

Media ranges are weighed by their `q` (default 1) and matched most specific first
(`text/csv` over `text/*` over `*/*`). CSV is answered when it is weighed strictly
above JSON; JSON when there is no `Accept`, on a tie, or when CSV is not
acceptable; 406 when neither is (`q=0` for both, or only other types named).
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from services.common import report_csv
from services.gateway.domain.errors import NotAcceptable

JSON_TYPE, CSV_TYPE = "application/json", "text/csv"
ACCEPT_RANGES_MAX = 32  # more media ranges than this in one header: the rest are not read
_Q = re.compile(r"^q=(0(\.\d{0,3})?|1(\.0{0,3})?)$", re.IGNORECASE)
CSV_CONTENT = {CSV_TYPE: {"schema": {"type": "string"}, "example": "as_of,account,currency,debit,credit\r\n"}}


def _weight(media_type: str, ranges: list[tuple[str, float]]) -> float:
    """The q of the most specific range matching `media_type` (0 when none does)."""
    kind = media_type.split("/")[0]
    for candidate in (media_type, f"{kind}/*", "*/*"):
        weights = [q for name, q in ranges if name == candidate]
        if weights:
            return max(weights)
    return 0.0


def _ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(",")[:ACCEPT_RANGES_MAX]:
        name, *parameters = [piece.strip() for piece in part.split(";")]
        q = 1.0
        for parameter in parameters:
            match = _Q.fullmatch(parameter.replace(" ", ""))
            if match:
                q = float(match.group(1))
        if name:
            ranges.append((name.lower(), q))
    return ranges


def prefers_csv(accept: str | None) -> bool:
    """True for CSV, False for JSON; NotAcceptable when the header allows neither."""
    if accept is None or not accept.strip():
        return False
    ranges = _ranges(accept)
    json_q, csv_q = _weight(JSON_TYPE, ranges), _weight(CSV_TYPE, ranges)
    if json_q == 0 and csv_q == 0:
        raise NotAcceptable(
            "not_acceptable",
            f"Accept allows neither {JSON_TYPE} nor {CSV_TYPE}, the only representations of this report",
        )
    return csv_q > json_q


def wants_csv(request: Request) -> bool:
    """A dependency of every report: read before the report is, so a 406 costs no read."""
    return prefers_csv(request.headers.get("accept"))


def report_response(report: str, body: dict, as_csv: bool, headers: dict[str, str] | None = None) -> Response:
    """The body as JSON, or as the report's CSV (`services.common.report_csv`)."""
    if as_csv:
        return Response(
            report_csv.csv_text(report, body),
            media_type=report_csv.CONTENT_TYPE,
            headers={
                "Content-Disposition": f'attachment; filename="{report}.csv"',
                "Vary": "Accept",
                **(headers or {}),
            },
        )
    return JSONResponse(jsonable_encoder(body), headers={"Vary": "Accept", **(headers or {})})
