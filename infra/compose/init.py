"""`python -m infra.compose.init`: the one-shot step of docker-compose.yml.

Waits for Kafka and PostgreSQL, creates the contract's topics and runs the
migrations to head, the same as `takeback up` does before it starts the services.
Harmless to run again: existing topics and applied migrations are left alone.
"""
from __future__ import annotations

import asyncio
import time


from infra.local.probes import kafka_answers, postgres_answers
from infra.local.topics import ensure_topics
from infra.migrations.runner import upgrade
from services.common.logging import configure_logging, get_logger
from services.common.settings import get_settings

WAIT_TIMEOUT_S = 180.0
POLL_S = 1.0

log = get_logger(__name__)


def wait_for(what: str, check, timeout_s: float = WAIT_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not asyncio.run(check()):
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not answer within {timeout_s:.0f} s")
        time.sleep(POLL_S)
    log.info("answers", part=what)


def main() -> None:
    s = get_settings()
    configure_logging(s.log_level, s.log_format, service="init")
    wait_for("postgres", lambda: postgres_answers(s.database_owner_url))
    wait_for("kafka", lambda: kafka_answers(s.kafka_bootstrap))
    created = asyncio.run(ensure_topics(s.kafka_bootstrap, s.topic_partitions, s.topic_retention_ms))
    log.info("topics_ready", created=created)
    upgrade(s.database_owner_url)  # runs its own event loop, so not inside asyncio.run
    log.info("migrations_at_head")


if __name__ == "__main__":
    main()
