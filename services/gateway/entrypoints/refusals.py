"""Every refusal answered in one shape: `{"error": code, "message": text, "errors": [{field, rule,
message}]}`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from services.common.logging import get_logger
from services.common.retry import TRANSIENT_ERRORS
from services.gateway.domain.errors import Refused, TooManyRequests
from services.gateway.entrypoints.access_log import log_fields

log = get_logger(__name__)

EVENTS_PATH = "/v1/events"
DATABASE_RETRY_AFTER_S = 1
_HTTP_REASONS = {404: "not_found", 405: "method_not_allowed"}


def refusal_body(reason: str, message: str, errors: list[dict[str, str]] | None = None) -> dict:
    return {"error": reason, "message": message, "errors": errors or []}


async def on_refused(request: Request, refused: Refused) -> JSONResponse:
    log_fields(request)["reason"] = refused.reason
    if request.url.path == EVENTS_PATH and request.method == "POST":
        request.app.state.gateway.metrics.event_refused(refused.event_type, refused.reason)
    headers = {"WWW-Authenticate": 'Bearer realm="takeback"'} if refused.status == 401 else None
    if isinstance(refused, TooManyRequests):
        headers = {"Retry-After": str(refused.retry_after_s)}
    return JSONResponse(
        refusal_body(refused.reason, refused.message, refused.errors), refused.status, headers
    )


async def on_invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = [
        {
            "field": ".".join(str(part) for part in detail["loc"]),
            "rule": detail["type"],
            "message": detail["msg"],
        }
        for detail in error.errors()
    ]
    log_fields(request)["reason"] = "invalid_request"
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return JSONResponse(refusal_body("invalid_request", summary, errors), 400)


async def on_http_error(request: Request, error: HTTPException) -> JSONResponse:
    reason = _HTTP_REASONS.get(error.status_code, f"http_{error.status_code}")
    return JSONResponse(refusal_body(reason, str(error.detail)), error.status_code, error.headers)


async def on_database_away(request: Request, error: Exception) -> JSONResponse:
    """The database is away (refused, restarting, the session ended): not a bug, and nothing was done. 503."""
    log.warning(
        "database_unavailable", method=request.method, path=request.url.path, error=type(error).__name__
    )
    log_fields(request)["reason"] = "database_unavailable"
    message = f"the scheme's records are not readable now ({type(error).__name__}); retry"
    return JSONResponse(
        refusal_body("database_unavailable", message), 503, {"Retry-After": str(DATABASE_RETRY_AFTER_S)}
    )


async def on_bug(request: Request, error: Exception) -> JSONResponse:
    """A bug (never a refusal): logged with its traceback, answered 500 in the usual shape."""
    log.error("unhandled_error", method=request.method, path=request.url.path, exc_info=error)
    return JSONResponse(refusal_body("internal_error", "the gateway failed; the error is logged"), 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(Refused, on_refused)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(HTTPException, on_http_error)
    for away in TRANSIENT_ERRORS:
        app.add_exception_handler(away, on_database_away)
    app.add_exception_handler(Exception, on_bug)
