"""The refusals each operation documents in the OpenAPI document: one `Refusal` body, with their headers."""

from __future__ import annotations

from typing import Any

from services.gateway.entrypoints.bodies import Refusal

RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Whole seconds to wait before sending again",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
WWW_AUTHENTICATE_HEADER = {
    "WWW-Authenticate": {
        "description": "The scheme to authenticate with: `Bearer`",
        "required": True,
        "schema": {"type": "string"},
    }
}
LOCATION_HEADER = {
    "Location": {
        "description": "Where to follow what was asked for",
        "required": True,
        "schema": {"type": "string"},
    }
}

DESCRIPTIONS = {
    400: "A parameter breaks its rule, or the query holds one the operation does not take: "
    "every one is named",
    401: "No key, or a malformed, unknown or revoked key",
    403: "Not a finance key",
    404: "Not known to the scheme",
    406: "`Accept` allows neither `application/json` nor `text/csv`",
    413: "Body larger than the limit (TAKEBACK_HTTP_BODY_MAX_BYTES, at most 256 KiB)",
    415: "The body is not `application/json` (a `charset=utf-8` parameter is allowed)",
    429: "Too many requests with this key (`rate_limited`), or too many failed authentications from this "
    "address (`too_many_failed_authentications`): send again after `Retry-After` seconds",
    501: "This read model is not part of this build",
    503: "Not available now (the database or the event log is away); retry",
}
_HEADERS = {401: WWW_AUTHENTICATE_HEADER, 429: RETRY_AFTER_HEADER}


def refusals(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` of an operation: each status with the Refusal body, its description (or the one given
    as `s403="..."`) and its headers."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        documented[status] = {
            "model": Refusal,
            "description": described.get(f"s{status}", DESCRIPTIONS[status]),
        }
        if status in _HEADERS:
            documented[status]["headers"] = _HEADERS[status]
    return documented
