"""Who is calling, as FastAPI dependencies: the bearer key, verified (401), within its rate limits (429);
and nothing in the query but the operation's own parameters, each once (400).

`authorised` is the dependency of every operation that needs a key:
1. an address that used up its failed authentications is 429 before any key is looked up;
2. the key is verified; a failure is 401 and spends one of the address's tokens;
3. the key spends one of its own tokens, 429 when it has none;
4. the query holds only the operation's declared parameters, none repeated.
"""

from __future__ import annotations

from collections import Counter

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.bootstrap import Gateway
from services.gateway.domain.errors import InvalidRequest, Unauthenticated
from services.gateway.domain.keys import KeyHolder
from services.gateway.entrypoints.access_log import log_fields

_QUERY_PARAMETERS: dict[str, frozenset[str]] = {}  # operation id -> its query parameters (one per route)
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key bound to one source and a role: `takeback keys create --kind K --id ID`.",
)


def gateway_of(request: Request) -> Gateway:
    return request.app.state.gateway


async def key_holder(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> KeyHolder:
    return await verified_holder(request, credentials.credentials if credentials else None)


def presented_key(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, read as `bearer` reads it; None without one."""
    scheme, _, credentials = (authorization or "").partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


async def authorised_request(request: Request) -> KeyHolder:
    """`authorised` called directly, for an operation that declares its parameters to the document itself
    (FastAPI's dependency solving is a third of a request's CPU on `POST /v1/events`)."""
    holder = await verified_holder(request, presented_key(request.headers.get("authorization")))
    check_query(request)
    return holder


async def verified_holder(request: Request, presented: str | None) -> KeyHolder:
    gateway = gateway_of(request)
    host = request.client.host if request.client else None
    gateway.limits.check_address(host)
    try:
        holder = await gateway.keys.verify(presented)
    except Unauthenticated:
        gateway.limits.authentication_failed(host)
        raise
    log_fields(request)["key_id"] = holder.key_id
    gateway.limits.check_key(holder.key_id)
    return holder


async def authorised(request: Request, holder: KeyHolder = Depends(key_holder)) -> KeyHolder:
    """The verified key holder, once the query is known to hold only the operation's parameters."""
    check_query(request)
    return holder


def check_query(request: Request) -> None:
    if not request.scope.get("query_string"):
        return  # nothing in the query: nothing to refuse
    route = request.scope.get("route")
    declared = query_parameters(route) if isinstance(route, APIRoute) else frozenset()
    counts = Counter(name for name, _ in request.query_params.multi_items())
    unknown = sorted(set(counts) - declared)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    errors = [
        {
            "field": f"query.{name}",
            "rule": "unknown_parameter",
            "message": "not a parameter of this operation "
            f"(it takes: {', '.join(sorted(declared)) or 'none'})",
        }
        for name in unknown[:10]
    ]
    errors += [
        {"field": f"query.{name}", "rule": "repeated_parameter", "message": "given more than once"}
        for name in repeated[:10]
    ]
    if errors:
        raise InvalidRequest(
            "invalid_request", "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors
        )


def query_parameters(route: APIRoute) -> frozenset[str]:
    """The query parameters an operation declares (in its signature or its dependencies)."""
    names = _QUERY_PARAMETERS.get(route.unique_id)
    if names is None:
        found: set[str] = set()
        pending: list[Dependant] = [route.dependant]
        while pending:
            dependant = pending.pop()
            found.update(param.alias for param in dependant.query_params)
            pending.extend(dependant.dependencies)
        names = _QUERY_PARAMETERS[route.unique_id] = frozenset(found)
    return names
