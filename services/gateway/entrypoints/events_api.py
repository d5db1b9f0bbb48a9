"""`POST /v1/events`: one envelope, 202 once Kafka has it (acks=all); refused with the reason otherwise."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from contracts.events import ENVELOPE_OF_TYPE
from contracts.topics import IN_EVENT_TYPES
from services.gateway.domain.errors import BodyTooLarge
from services.gateway.domain.keys import KeyHolder
from services.gateway.entrypoints.access_log import log_fields
from services.gateway.entrypoints.bodies import EventAccepted, Refusal
from services.gateway.entrypoints.dependencies import gateway_of, key_holder
from services.gateway.service_layer.accept_event import accept_event

router = APIRouter()

_SCHEMA_OF_TYPE = {event_type: f"#/components/schemas/{ENVELOPE_OF_TYPE[event_type].__name__}"
                   for event_type in IN_EVENT_TYPES}
EVENT_BODY = {
    "required": True,
    "description": "One envelope (contract section 2) of an event type the key's source may send.",
    "content": {"application/json": {"schema": {
        "oneOf": [{"$ref": ref} for ref in _SCHEMA_OF_TYPE.values()],
        "discriminator": {"propertyName": "type", "mapping": _SCHEMA_OF_TYPE},
    }}},
}
REFUSALS = {
    400: {"model": Refusal, "description": "Not an event of the contract: every failing field and rule"},
    401: {"model": Refusal, "description": "No key, or a malformed, unknown or revoked key"},
    403: {"model": Refusal, "description": "This key may not send this type, or not as this source"},
    413: {"model": Refusal, "description": "Body larger than the limit (TAKEBACK_HTTP_BODY_MAX_BYTES)"},
    503: {"model": Refusal, "description": "Kafka did not acknowledge in time; retry with the same event_id"},
}


@router.post("/v1/events", status_code=202, response_model=EventAccepted, responses=REFUSALS,
             openapi_extra={"requestBody": EVENT_BODY}, tags=["events"])
async def post_event(request: Request, holder: KeyHolder = Depends(key_holder)) -> JSONResponse:
    """Send one event as the key's own source. The raw body is produced unchanged to the type's topic
    under the contract's key, so it is the same event a Kafka producer would have written."""
    gateway = gateway_of(request)
    raw = await read_body(request, gateway.settings.http_body_max_bytes)
    event_id, event_type = await accept_event(raw, holder, gateway.publisher)
    gateway.metrics.event_accepted(event_type)
    log_fields(request).update(event_id=str(event_id), event_type=event_type)
    return JSONResponse({"event_id": str(event_id), "status": "accepted"}, status_code=202)


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
