"""`python -m streams.worker`: the stream processor, its outbox relay and its health port."""

from __future__ import annotations

import asyncio
import sys

import mode.loop

from services.common.health import start_health_server
from services.common.logging import configure_logging, get_logger
from services.common.settings import get_settings
from streams.adapters import repository
from streams.app import create_app
from streams.bootstrap import Wiring, bootstrap

log = get_logger(__name__)
COMPACT_EVERY_S = 3600.0


async def compact_offsets_forever(pool) -> None:
    """Every COMPACT_EVERY_S, the runs of input offsets merged, so their table grows with gaps, not
    batches."""
    while True:
        await asyncio.sleep(COMPACT_EVERY_S)
        try:
            removed = await repository.compact_offsets(pool)
        except Exception as error:  # the database is away: next time
            log.warning("input_offsets_compaction_failed", error=repr(error))
            continue
        log.info("input_offsets_compacted", rows_removed=removed)


def main() -> None:
    mode.loop.use("uvloop")  # before faust makes its loops (the agents' and its consumer thread's)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, service="streams")
    wiring = Wiring()
    app = create_app(settings, wiring)

    @app.task
    async def start_clients() -> None:
        streams = await bootstrap(settings)
        wiring.provide(streams)
        await start_health_server(
            settings.http_host, settings.streams_metrics_port, wiring.ready, lambda: streams.monitor.report
        )
        log.info("streams_started", metrics_port=settings.streams_metrics_port)
        await asyncio.gather(
            streams.relay.run_forever(), streams.monitor.run_forever(), compact_offsets_forever(streams.pool)
        )

    sys.argv = [sys.argv[0], "worker", "--without-web", "--loglevel", settings.log_level]
    app.main()


if __name__ == "__main__":
    main()
