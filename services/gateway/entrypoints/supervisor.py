"""The gateway's supervisor process, lean: it holds the port, starts the worker processes (each listening
on a socket of its own on that port, `listeners`), restarts one that dies or hangs, and stops them all on
SIGTERM; it serves no request. `server.main` reads the settings, prepares the workers' shared folder, then
replaces itself (same process, same pid) by this module: the process that lives as long as the gateway
imports only the HTTP server and the standard library, not the settings' validation, the structured logging
or the app, which only the workers use (about 15 MB less in it).

Its arguments come from `server.main` only: host, port, workers, connections per worker, log level."""

from __future__ import annotations

import logging
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import multiprocess

from services.gateway.entrypoints import listeners

GRACEFUL_SHUTDOWN_S = 10
# A worker that leaves its supervisor's ping unanswered this long is hung: killed and started again. Long
# enough for a worker to start (imports, clients) on a machine that is busy, as this one is under a benchmark.
WORKER_PING_TIMEOUT_S = 60
WORKER_APP = "services.gateway.entrypoints.server:worker_app"  # each worker builds its own app from this


def serve(app, *, workers: int, host: str, port: int, connections: int) -> None:
    """The gateway on host:port: `app` in this process (one worker), or WORKER_APP in `workers` processes,
    each listening on a socket of its own (`listeners`: the kernel shares connections among them evenly)."""
    options = dict(
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        limit_concurrency=connections,
        loop="uvloop",  # native event loop and HTTP parser: about a fifth less CPU a request than the
        http="httptools",  # pure-Python ones (asyncio's loop, h11)
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_worker_healthcheck=WORKER_PING_TIMEOUT_S,
    )
    if workers == 1:
        uvicorn.run(app, **options)
        return
    config = uvicorn.Config(WORKER_APP, factory=True, workers=workers, **options)
    try:
        held = listeners.reserved(host, port)
    except OSError as error:
        logging.getLogger("uvicorn.error").error("cannot bind %s:%s: %s", host, port, error)
        sys.exit(STARTUP_FAILURE)
    # uvicorn's supervisor (restarts, health pings, signals) makes its workers of `multiprocess.Process`.
    multiprocess.Process = listeners.OwnSocketWorker
    try:
        multiprocess.Multiprocess(config, sockets=[held]).run()
    except KeyboardInterrupt:
        pass


def arguments(host: str, port: int, workers: int, connections: int, log_level: str) -> list[str]:
    return [host, str(port), str(workers), str(connections), log_level]


def main(argv: list[str]) -> None:
    host, port, workers, connections, log_level = argv
    # As `configure_logging` sets the standard library's logging (the HTTP server's own lines, warnings up).
    logging.basicConfig(
        level=max(logging.WARNING, logging.getLevelName(log_level.upper())), stream=sys.stderr
    )
    serve(None, workers=int(workers), host=host, port=int(port), connections=int(connections))


if __name__ == "__main__":
    main(sys.argv[1:])
