"""`POST /v1/events`: one envelope, 202 once Kafka has it (acks=all); refused with the reason otherwise.
With `Prefer: wait=N`, 200 with what the scheme decided if it decides within N seconds (contract 8.2).
`GET /v1/events/{event_id}`: that status read back, by the source that sent the event or finance."""

from __future__ import annotations

import asyncio
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic_core import PydanticCustomError

from contracts.events import ENVELOPE_OF_TYPE
from contracts.topics import IN_EVENT_TYPES
from services.gateway.domain.errors import BodyTooLarge, InvalidRequest, UnsupportedMediaType
from services.gateway.domain.event_status import AcceptedRecord
from services.gateway.domain.keys import KeyHolder
from services.gateway.entrypoints.access_log import log_fields
from services.gateway.entrypoints.bodies import EventAccepted, EventDecided, EventStatus
from services.gateway.entrypoints.dependencies import authorised, authorised_request, bearer, gateway_of
from services.gateway.entrypoints.parameters import PREFER_WAIT_PATTERN, Uuid, parse_prefer_wait
from services.gateway.entrypoints.refusals import EVENTS_PATH
from services.gateway.entrypoints.responses import refusals
from services.gateway.service_layer.accept_event import accept_event
from services.gateway.service_layer.event_status import event_status, record_and_wait

router = APIRouter()

_SCHEMA_OF_TYPE = {
    event_type: f"#/components/schemas/{ENVELOPE_OF_TYPE[event_type].__name__}"
    for event_type in IN_EVENT_TYPES
}
EVENT_BODY = {
    "required": True,
    "description": "One envelope (contract section 2) of an event type the key's source may send.",
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [{"$ref": ref} for ref in _SCHEMA_OF_TYPE.values()],
                "discriminator": {"propertyName": "type", "mapping": _SCHEMA_OF_TYPE},
            }
        }
    },
}
REFUSALS = refusals(
    400,
    401,
    403,
    413,
    415,
    429,
    503,
    s400="Not an event of the contract: every failing field and rule (including the rules JSON Schema cannot "
    "state: serials unique within a sale, occurred_at at most 5 minutes ahead of the gateway's clock)",
    s403="This key may not send this type, or not as this source (checked before the rest of the event)",
    s503="Kafka did not acknowledge in time; retry with the same event_id",
)
JSON_MEDIA_TYPE = "application/json"
JSON_CHARSETS = ("utf-8", "utf8")


PREFER_DESCRIPTION = (
    "`wait=N`, N whole seconds from 1 to 10: answer 200 with the scheme's decision if the event is applied "
    "or rejected within N seconds, else 202 as without it. Empty: as without it. Any other value is 400 "
    "(rule `prefer_wait`)."
)
# `post_event` reads its header and key itself (no dependency to solve per request), so it states them here.
POST_EVENT_DOCUMENT = {
    "requestBody": EVENT_BODY,
    "parameters": [
        {
            "name": "Prefer",
            "in": "header",
            "required": False,
            "description": PREFER_DESCRIPTION,
            "schema": {
                "type": "string",
                "pattern": PREFER_WAIT_PATTERN,
                "examples": ["wait=5"],
                "title": "Prefer",
            },
        }
    ],
    "security": [{bearer.scheme_name: []}],
}
DECIDED = {
    200: {
        "model": EventDecided,
        "description": "With `Prefer: wait=N`: the event was applied or "
        "rejected within N seconds (a duplicate of an event decided before: its first decision)",
        "headers": {
            "Preference-Applied": {"description": "`wait=N`, as asked", "schema": {"type": "string"}}
        },
    }
}


@router.post(
    EVENTS_PATH,
    status_code=202,
    response_model=EventAccepted,
    responses={**DECIDED, **REFUSALS},
    openapi_extra=POST_EVENT_DOCUMENT,
    tags=["events"],
)
async def post_event(request: Request) -> Response:
    """Send one event as the key's own source. The raw body is produced unchanged to the type's topic
    under the contract's key, so it is the same event a Kafka producer would have written.
    The body must be `Content-Type: application/json` (UTF-8), else 415."""
    holder = await authorised_request(request)
    prefer = prefer_wait(request.headers.get("prefer"))
    gateway = gateway_of(request)
    deadline = asyncio.get_running_loop().time() + (prefer or 0)
    check_media_type(request.headers.get("content-type"))
    raw = await read_body(request, gateway.settings.http_body_max_bytes)
    event_id, event_type, sent_hash = await accept_event(raw, holder, gateway.publisher)
    record = AcceptedRecord(event_id, holder.source_kind, holder.source_id, sent_hash)
    log_fields(request).update(event_id=str(event_id), event_type=event_type)
    if prefer is None:
        await gateway.accepted_log.add(record)
        gateway.metrics.event_accepted(event_type)
        return accepted_response(event_id)
    decided = await record_and_wait(
        gateway.accepted_log,
        gateway.outcomes,
        record,
        deadline - asyncio.get_running_loop().time(),
        on_recorded=lambda: gateway.metrics.event_accepted(event_type),
    )
    headers = {"Preference-Applied": f"wait={prefer}"}
    log_fields(request)["decided"] = decided is not None
    if decided is None:
        return accepted_response(event_id, headers)
    return JSONResponse(decided, status_code=200, headers=headers)


POST_EVENT_ROUTE = next(
    route for route in router.routes if isinstance(route, APIRoute) and route.endpoint is post_event
)


def accepted_response(event_id: UUID, headers: dict[str, str] | None = None) -> Response:
    """202 `{"event_id", "status": "accepted"}`, written without an encoder (a UUID's text needs no
    escape)."""
    return Response(
        b'{"event_id":"%s","status":"accepted"}' % str(event_id).encode(),
        status_code=202,
        headers=headers,
        media_type=JSON_MEDIA_TYPE,
    )


def prefer_wait(value: str | None) -> int | None:
    """`Prefer: wait=N` as N seconds; None without it (or empty); else 400 naming the header and its rule."""
    if value is None:
        return None
    try:
        return parse_prefer_wait(value)
    except PydanticCustomError as error:
        errors = [{"field": "header.Prefer", "rule": error.type, "message": error.message()}]
        raise InvalidRequest("invalid_request", f"header.Prefer: {error.message()}", errors) from None


@router.get(
    "/v1/events/{event_id}",
    response_model=EventStatus,
    responses=refusals(
        400,
        401,
        404,
        429,
        503,
        s404="No event with this id is known to the scheme for this key: one it never "
        "saw, or one another source sent (only the sender and finance keys may read an event)",
    ),
    tags=["events"],
)
async def get_event(
    request: Request,
    event_id: Annotated[Uuid, Path(description="The event's event_id")],
    holder: KeyHolder = Depends(authorised),
) -> JSONResponse:
    """`accepted` (durably in Kafka, not applied yet), `applied` or `rejected`, with the outcome (as
    `Prefer: wait` answers it). Readable by the key of the source that sent the event and by finance keys."""
    return JSONResponse(await event_status(gateway_of(request).event_records, holder, event_id))


def check_media_type(content_type: str | None) -> None:
    """415 unless the body is declared `application/json`, with no parameter but a UTF-8 charset."""
    media_type, *parameters = [part.strip() for part in (content_type or "").split(";")]
    charsets = [
        value.strip('"').lower()
        for name, _, value in (p.partition("=") for p in parameters)
        if name.strip().lower() == "charset"
    ]
    if (
        media_type.lower() != JSON_MEDIA_TYPE
        or len(charsets) != len(parameters)
        or any(charset not in JSON_CHARSETS for charset in charsets)
    ):
        raise UnsupportedMediaType(
            "unsupported_media_type",
            f"the body must be {JSON_MEDIA_TYPE} (optionally with charset=utf-8), "
            f"not {(content_type or 'undeclared')[:100]!r}",
        )


async def read_body(request: Request, limit_bytes: int) -> bytes:
    """The body, refused (413) as soon as it is known to exceed the limit: by its length, or while reading."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
        raise BodyTooLarge("too_large", f"the body is {declared} bytes; at most {limit_bytes} are accepted")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit_bytes:
            raise BodyTooLarge("too_large", f"the body exceeds {limit_bytes} bytes")
    return bytes(body)
