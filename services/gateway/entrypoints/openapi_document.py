"""The OpenAPI document: FastAPI's, plus the contract's event schemas, with 400 (not 422) for bad input."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from contracts.events import ENVELOPE_OF_TYPE
from contracts.topics import IN_EVENT_TYPES

TITLE = "Takeback gateway"
VERSION = "1.0.0"
DESCRIPTION = """Events in over HTTP, and reads for key holders (contract section 6).

Every request but `/healthz` and `/metrics` carries `Authorization: Bearer <API key>`.
A key is bound to one source (kind and id) and a role: `producer` keys send their own
source's events; `finance` keys (kind `finance`) read the books and the reports, and
may send `terms.published`. Any valid key may read a battery.
Refusals have one shape: `{"error": code, "message": text, "errors": [{field, rule, message}]}`.
"""
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def event_schemas() -> dict[str, Any]:
    """JSON Schemas of the envelopes in, as OpenAPI components."""
    models = [(ENVELOPE_OF_TYPE[event_type], "validation") for event_type in IN_EVENT_TYPES]
    _, top = models_json_schema(models, ref_template="#/components/schemas/{model}", by_alias=True)
    return top["$defs"]


def openapi_document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        document = get_openapi(title=TITLE, version=VERSION, description=DESCRIPTION, routes=app.routes)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name in _FASTAPI_VALIDATION_SCHEMAS:
            schemas.pop(name, None)
        events = event_schemas()
        assert not set(events) & set(schemas), "an event schema's name is taken by a response body"
        schemas.update(events)
        for operation in _operations(document):
            _bad_input_is_400(operation["responses"])
            for parameter in operation.get("parameters", []):
                _absent_is_not_null(parameter)
        app.openapi_schema = document
    return app.openapi_schema


def _operations(document: dict[str, Any]):
    for path_item in document["paths"].values():
        yield from path_item.values()


def _bad_input_is_400(responses: dict[str, Any]) -> None:
    if responses.pop("422", None) is not None and "400" not in responses:
        responses["400"] = {
            "description": "A parameter breaks its rule: every failing field is named",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}},
        }


def _absent_is_not_null(parameter: dict[str, Any]) -> None:
    """An optional parameter is left out, never sent as null: its schema is the non-null branch alone."""
    schema = parameter["schema"]
    branches = schema.get("anyOf", [])
    if parameter.get("required") or {"type": "null"} not in branches:
        return
    [branch] = [b for b in branches if b != {"type": "null"}]
    parameter["schema"] = {**{k: v for k, v in schema.items() if k != "anyOf"}, **branch}
