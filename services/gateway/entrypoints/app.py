"""The FastAPI application: routes, refusals, access log; clients opened in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

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
from services.gateway.entrypoints.openapi_document import DESCRIPTION, TITLE, VERSION, openapi_document

GatewayFactory = Callable[[Settings], AbstractAsyncContextManager[Gateway]]


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

    app = FastAPI(
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
