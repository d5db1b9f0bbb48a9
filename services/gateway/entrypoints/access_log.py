"""One structured (JSON) log line and one metric sample per request. Never a header, never key material.

Handlers add fields (`key_id`, `event_id`, `reason`) through `log_fields(request)`;
the key_id is the public half of a key, safe to log.
"""

from __future__ import annotations

import os
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.logging import get_logger

log = get_logger("gateway.access")
LOG_FIELDS_SCOPE_KEY = "takeback.log_fields"


def log_fields(request: Request) -> dict:
    return request.scope.setdefault(LOG_FIELDS_SCOPE_KEY, {})


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.pid = os.getpid()  # the worker process that answered (several share the port)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500
        fields = scope.setdefault(LOG_FIELDS_SCOPE_KEY, {})

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            gateway = getattr(scope["app"].state, "gateway", None)  # set once the lifespan started
            if gateway is not None:
                gateway.metrics.answered(route, scope["method"], status, seconds)
            client = scope.get("client") or ("-", 0)
            log.info(
                "http_request",
                method=scope["method"],
                path=scope["path"],
                route=route,
                status=status,
                duration_ms=round(seconds * 1000, 2),
                client=client[0],
                pid=self.pid,
                **fields,
            )
