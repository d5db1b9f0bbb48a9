"""The FastAPI application: routes, refusals, access log; clients opened in the lifespan.

`POST /v1/events` is the hot path: `GatewayApp` hands it straight to its handler
through the same middleware as every route (errors answered by the same handlers,
the access log) but without the router and FastAPI's per-request machinery (about a
third of that request's CPU). The route stays declared on the router, so the OpenAPI
document states it as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette._utils import get_route_path, is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.settings import Settings
from services.gateway.bootstrap import Gateway, running_gateway
from services.gateway.entrypoints import (
    events_api,
    ops_api,
    reads_api,
    reconciliation_api,
    refusals,
    settlement_api,
)
from services.gateway.entrypoints.access_log import AccessLog
from services.gateway.entrypoints.console import routes as console_routes
from services.gateway.entrypoints.events_api import POST_EVENT_ROUTE, post_event
from services.gateway.entrypoints.openapi_document import DESCRIPTION, TITLE, VERSION, openapi_document
from services.gateway.entrypoints.refusals import EVENTS_PATH

GatewayFactory = Callable[[Settings], AbstractAsyncContextManager[Gateway]]


class GatewayApp(FastAPI):
    events_stack: ASGIApp | None = None  # `POST /v1/events` through the app's middleware, built once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and get_route_path(scope) == EVENTS_PATH:
            if self.events_stack is None:
                self.events_stack = self.build_events_stack()
            scope["app"] = self
            scope["route"], scope["endpoint"], scope["path_params"] = POST_EVENT_ROUTE, post_event, {}
            await self.events_stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def build_events_stack(self) -> ASGIApp:
        """The middleware FastAPI stacks around its router (`build_middleware_stack`), around `POST
        /v1/events` alone: the 500 handler, the app's own middleware, the refusal handlers (`_Refusals`: what
        FastAPI's `ExceptionMiddleware` does for a route, in one layer). Left out: the request body limit
        FastAPI adds only with its `max_body_size` (the handler applies the gateway's), telemetry it adds
        only when configured, and the exit stack of dependencies (the route has none)."""
        assert self.max_body_size is None and not self.root_path, "routed as FastAPI routes it"
        error_handler: Any = None
        handlers: dict[Any, Any] = {}
        for key, value in self.exception_handlers.items():
            if key in (500, Exception):
                error_handler = value
            else:
                handlers[key] = value
        middleware = [
            Middleware(ServerErrorMiddleware, handler=error_handler, debug=self.debug),
            *self.user_middleware,
        ]
        # The handlers' tables as ExceptionMiddleware builds them (its own for HTTPException, the app's over
        # them); only the tables are used.
        tables = ExceptionMiddleware(self.router, handlers=handlers, debug=self.debug)
        app: ASGIApp = _Refusals(tables._exception_handlers, tables._status_handlers)
        for cls, args, kwargs in reversed(middleware):
            app = cls(app, *args, **kwargs)
        return app


class _Refusals:
    """`post_event` answered, or its refusal answered by the app's handler of it: what `ExceptionMiddleware`
    and its per-request wrapper do around a route (the handler found by status for an HTTPException, else by
    the exception's class and its bases; anything unhandled goes on up, to the 500 handler), without their
    per-request wrappers of `send` (an exception raised while the answer is sent goes up, as there)."""

    def __init__(self, handlers: dict[Any, Any], status_handlers: dict[int, Any]) -> None:
        self.handlers, self.status_handlers = handlers, status_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["starlette.exception_handlers"] = (self.handlers, self.status_handlers)
        request = Request(scope, receive, send)
        try:
            response = await post_event(request)
        except Exception as error:
            handler = self._handler(error)
            if handler is None:
                raise
            if is_async_callable(handler):
                response = await handler(request, error)
            else:
                response = await run_in_threadpool(handler, request, error)
            error.__traceback__ = None  # a reused exception would gather tracebacks
        await response(scope, receive, send)

    def _handler(self, error: Exception) -> Any:
        if isinstance(error, HTTPException) and error.status_code in self.status_handlers:
            return self.status_handlers[error.status_code]
        for cls in type(error).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None


def create_app(settings: Settings, gateway_factory: GatewayFactory = running_gateway) -> FastAPI:
    """An app that connects nothing until it starts; `gateway_factory` swaps in fakes for unit tests."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with gateway_factory(settings) as gateway:
            app.state.gateway = gateway
            try:
                yield
            finally:
                await gateway.reconciliations.close()

    app = GatewayApp(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,
    )
    app.include_router(events_api.router)
    app.include_router(reads_api.router)
    app.include_router(reconciliation_api.router)
    app.include_router(settlement_api.router)
    app.include_router(ops_api.router)
    app.include_router(
        console_routes.router
    )  # the finance console's HTML pages (not in the OpenAPI document)
    refusals.install(app)
    app.add_middleware(AccessLog)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    return app
