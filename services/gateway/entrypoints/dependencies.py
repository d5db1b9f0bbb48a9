"""Who is calling: the bearer key, verified (401 otherwise), as a FastAPI dependency."""
from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.bootstrap import Gateway
from services.gateway.domain.keys import KeyHolder
from services.gateway.entrypoints.access_log import log_fields

bearer = HTTPBearer(
    auto_error=False, scheme_name="ApiKey",
    description="An API key bound to one source and a role: `takeback keys create --kind K --id ID`.",
)


def gateway_of(request: Request) -> Gateway:
    return request.app.state.gateway


async def key_holder(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> KeyHolder:
    holder = await gateway_of(request).keys.verify(credentials.credentials if credentials else None)
    log_fields(request)["key_id"] = holder.key_id
    return holder
