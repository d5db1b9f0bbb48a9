"""A small HTTP server per worker: /healthz (ready or not, and the scheme's health report) and /metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


async def start_health_server(
    host: str,
    port: int,
    ready: Callable[[], bool],
    report: Callable[[], dict[str, Any] | None] = lambda: None,
) -> web.AppRunner:
    """200 once ready, else 503; the body also carries the last health report (relays, lag, reconciliation).

    The status code says whether this process works; the report's `status` says whether the flow through
    the scheme does (`ok` or `degraded`, with its `problems`).
    """

    async def healthz(_request: web.Request) -> web.Response:
        ok = ready()
        body: dict[str, Any] = {"status": "ok" if ok else "starting"}
        if (scheme := report()) is not None:
            body["scheme"] = scheme
        return web.json_response(body, status=200 if ok else 503, dumps=_dumps)

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    application = web.Application()
    application.add_routes([web.get("/healthz", healthz), web.get("/metrics", metrics)])
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, default=str)
