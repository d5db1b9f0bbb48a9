"""The faust app: one agent applies every topic in, in batches."""

from __future__ import annotations

import os
import sys
import time

import faust
from prometheus_client import Counter, Histogram

from contracts import topics
from services.common import retry
from services.common.kafka import credentials
from services.common.logging import get_logger, stdlib_logging_config
from services.common.settings import Settings
from streams.adapters.batching import log_holds_more, take_ready
from streams.adapters.lean_faust import LeanApp, StallWatch
from streams.adapters.signing_keys import SigningKeys
from streams.bootstrap import Wiring
from streams.service_layer.batch import Message, Outcome, apply_batch

log = get_logger(__name__)

EVENTS_APPLIED = Counter("takeback_events_applied_total", "Events in applied", ["type"])
EVENTS_REJECTED = Counter("takeback_events_rejected_total", "Events in rejected", ["reason"])
EVENTS_DUPLICATE = Counter("takeback_events_duplicate_total", "Events in seen before (no-ops)")
BATCH_SECONDS = Histogram(
    "takeback_batch_seconds",
    "Time to apply one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_SIZE = Histogram("takeback_batch_events", "Events per batch", buckets=(1, 10, 50, 100, 500, 1000, 5000))


EXIT_BATCH_NOT_APPLIED = (
    75  # the database stayed away for all of `retry.OUTAGE`: end, so nothing is acknowledged
)


async def apply_until_done(pool, messages: list[Message], keys: SigningKeys) -> Outcome:
    """Apply the batch, waiting out a database outage; never hand an unapplied batch back.

    `take_events` acknowledges a batch once the agent moves on, even when the
    agent's body raised, so an error escaping here would commit offsets of
    events never applied. Poison events are already isolated and rejected by
    `apply_batch`; what reaches this loop is the database being away, and the
    partition waits for it (`retry.OUTAGE`). If it stays away longer, the
    worker ends as a kill would: its batch is delivered again to whoever runs next.
    """

    def retrying(attempt: int, error: BaseException, pause_s: float) -> None:
        log.error(
            "batch_retry_later", events=len(messages), attempt=attempt, error=repr(error), wait_s=pause_s
        )

    try:  # any error: the batch must not be acknowledged unapplied
        return await retry.until_done(
            lambda: apply_batch(pool, messages, keys), retry.OUTAGE, (Exception,), retrying
        )
    except Exception as error:
        log.critical("batch_never_applied_worker_ends", events=len(messages), error=repr(error))
        sys.stdout.flush()
        os._exit(EXIT_BATCH_NOT_APPLIED)


def broker_credentials(settings: Settings) -> dict:
    """faust's SASL/SCRAM-SHA-512 credentials (and TLS) from the settings, as every other client has them."""
    found = credentials(settings)
    if found is None:
        return {}
    ssl_context = None
    if settings.kafka_security_protocol == "SASL_SSL":
        from aiokafka.helpers import create_ssl_context

        ssl_context = create_ssl_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    return {
        "broker_credentials": faust.SASLCredentials(
            username=found[0],
            password=found[1],
            mechanism=faust.types.auth.SASLMechanism.SCRAM_SHA_512,
            ssl_context=ssl_context,
        )
    }


def lean_app(settings: Settings, group: str) -> LeanApp:
    """A faust app of consumer `group` as the stream workers run theirs: its broker, credentials, consumer
    and buffer settings (`scripts/floor.py` measures the framework alone with it)."""
    datadir = settings.state_dir / "faust" / group
    datadir.mkdir(parents=True, exist_ok=True)
    return LeanApp(
        group,
        monitor=StallWatch(),  # faust's per-event counts and timings: nobody reads them (lean_faust.py)
        broker=f"kafka://{settings.kafka_bootstrap}",
        **broker_credentials(settings),
        web_enabled=False,
        datadir=str(datadir),
        topic_disable_leader=True,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        broker_session_timeout=10.0,  # a killed worker's partitions move on after 10 s, not 60
        broker_heartbeat_interval=2.0,
        stream_buffer_maxsize=max(4096, settings.batch_max_events * 2),
        broker_max_poll_records=settings.batch_max_events,
        value_serializer="raw",
        key_serializer="raw",
        logging_config=stdlib_logging_config(settings.log_level, settings.log_format, service="streams"),
    ).waiting_for_fetches(settings.fetch_wait_ms, settings.fetch_min_bytes)


def take_batches(app: faust.App, stream, settings: Settings):
    """The stream's events in the stream workers' batches (`take_ready` with the batch settings)."""
    return take_ready(
        stream,
        settings.batch_max_events,
        max_wait_s=settings.batch_max_wait_ms / 1000,
        idle_s=settings.batch_idle_ms / 1000,
        holds_more=log_holds_more(app.consumer),
    )


def create_app(settings: Settings, wiring: Wiring) -> faust.App:
    """The app; its agent waits for `wiring` to provide the clients made at start-up."""
    app = lean_app(settings, settings.streams_group)
    events_in = app.topic(
        *topics.INPUT_TOPICS, key_serializer="raw", value_serializer="raw", key_type=bytes, value_type=bytes
    )

    @app.agent(events_in)
    async def apply_events(stream):
        streams = await wiring.streams()
        async for batch in take_batches(app, stream, settings):
            messages = [
                Message(
                    e.message.topic,
                    e.message.partition,
                    e.message.offset,
                    e.message.key,
                    e.message.value,
                    tuple(e.message.headers or ()),
                )
                for e in batch
            ]
            started = time.perf_counter()
            outcome = await apply_until_done(streams.batches, messages, streams.keys)
            BATCH_SECONDS.observe(time.perf_counter() - started)
            BATCH_SIZE.observe(len(messages))
            for kind, count in outcome.applied.items():
                EVENTS_APPLIED.labels(kind).inc(count)
            for reason, count in outcome.rejected.items():
                EVENTS_REJECTED.labels(reason).inc(count)
            EVENTS_DUPLICATE.inc(outcome.duplicates)
            if outcome.outbox:
                streams.relay.wake()

    @app.on_partitions_assigned.connect
    async def on_assigned(app, assigned, **kwargs):
        wiring.assigned = True
        log.info("partitions_assigned", count=len(assigned))

    return app
