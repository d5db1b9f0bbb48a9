"""`python -m streams.worker`: the stream processor, its outbox relay and its health port."""
from __future__ import annotations

import asyncio
import sys

from services.common.db import create_pool
from services.common.health import start_health_server
from services.common.health_report import HealthMonitor
from services.common.logging import configure_logging, get_logger
from services.common.kafka import client_options
from services.common.outbox_tail import OutboxTail
from services.common.outbox import Relay, create_producer
from services.common.settings import get_settings
from streams.adapters import repository
from streams.adapters.signing_keys import SigningKeys
from streams.app import create_app

log = get_logger(__name__)
COMPACT_EVERY_S = 3600.0


async def compact_offsets_forever(pool) -> None:
    """Every COMPACT_EVERY_S, the runs of input offsets merged, so their table grows with gaps, not batches."""
    while True:
        await asyncio.sleep(COMPACT_EVERY_S)
        try:
            removed = await repository.compact_offsets(pool)
        except Exception as error:  # the database is away: next time
            log.warning("input_offsets_compaction_failed", error=repr(error))
            continue
        log.info("input_offsets_compacted", rows_removed=removed)


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, service="streams")
    runtime: dict = {"ready": False}
    app = create_app(settings, runtime)
    runtime["started"] = asyncio.Event()

    @app.task
    async def start_clients() -> None:
        runtime["pool"] = await create_pool(settings.database_url, settings=settings)
        runtime["keys"] = SigningKeys(runtime["pool"])
        producer = create_producer(settings.kafka_bootstrap, client_options(settings))
        await producer.start()
        relay = runtime["relay"] = Relay(runtime["pool"], producer, "scheme", settings.outbox_batch_max,
                                         settings.outbox_poll_ms / 1000, settings.outbox_retention_hours * 3600,
                                         OutboxTail(settings.kafka_bootstrap, client_options(settings)))
        runtime["started"].set()
        monitor = HealthMonitor(runtime["pool"], settings)
        await start_health_server(settings.http_host, settings.streams_metrics_port,
                                  lambda: runtime["ready"] and "pool" in runtime, lambda: monitor.report)
        log.info("streams_started", metrics_port=settings.streams_metrics_port)
        await asyncio.gather(relay.run_forever(), monitor.run_forever(), compact_offsets_forever(runtime["pool"]))

    sys.argv = [sys.argv[0], "worker", "--without-web", "--loglevel", settings.log_level]
    app.main()


if __name__ == "__main__":
    main()
