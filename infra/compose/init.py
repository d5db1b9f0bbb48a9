"""`python -m infra.compose.init`: the one-shot step of docker-compose.yml.

Waits for Kafka and PostgreSQL, creates the contract's topics and runs the
migrations to head, the same as `takeback up` does before it starts the services.
Harmless to run again: existing topics and applied migrations are left alone.
"""

from __future__ import annotations

import asyncio
import os
import time

from infra.local.principals import SERVICE_PRINCIPALS, ensure_principals
from infra.local.probes import kafka_answers, postgres_answers
from infra.local.topics import ensure_topics
from infra.migrations.runner import upgrade
from services.common.kafka import OPERATOR, SIGNERS, client_options
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
    options = client_options(s)  # the operator, over PLAIN on the containers' listener (its first login)
    wait_for("postgres", lambda: postgres_answers(s.database_owner_url))
    wait_for("kafka", lambda: kafka_answers(s.kafka_bootstrap, options=options))
    created = asyncio.run(
        ensure_topics(s.kafka_bootstrap, s.topic_partitions, s.topic_retention_ms, options=options)
    )
    log.info("topics_ready", created=created)
    upgrade(s.database_owner_url)  # runs its own event loop, so not inside asyncio.run
    log.info("migrations_at_head")
    asyncio.run(
        ensure_principals(
            s.kafka_bootstrap,
            options,
            s.streams_group,
            principal_passwords(),
            s.database_owner_url,
            {signer: _required(f"SIGNING_SECRET_{signer.upper()}") for signer in SIGNERS},
        )
    )
    log.info("principals_ready")


def principal_passwords() -> dict[str, str]:
    """The operator's SCRAM credential (for the host) and each service's, from the environment."""
    services = {
        name: _required(f"KAFKA_PASSWORD_{service.upper()}") for service, name in SERVICE_PRINCIPALS.items()
    }
    return {OPERATOR: _required("KAFKA_PASSWORD_ADMIN"), **services}


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SystemExit(f'{name} is not set (README, "Compose")')
    return value


if __name__ == "__main__":
    main()
