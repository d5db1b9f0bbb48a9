"""A small HTTP server per worker: /healthz (ready or not) and /metrics (Prometheus)."""
from __future__ import annotations

from typing import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


async def start_health_server(host: str, port: int, ready: Callable[[], bool]) -> web.AppRunner:
    async def healthz(_request: web.Request) -> web.Response:
        ok = ready()
        return web.json_response({"status": "ok" if ok else "starting"}, status=200 if ok else 503)

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    application = web.Application()
    application.add_routes([web.get("/healthz", healthz), web.get("/metrics", metrics)])
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
