"""The ledger worker: posts `takeback.internal.postings`, relays its outbox, reconciles periodically.

    python -m services.ledger.entrypoints.worker

Serves /healthz (ready once the consumer has joined its group and holds its
partitions) and /metrics on settings.ledger_metrics_port. Any number of workers
may post (the consumer group spreads the partitions); the one holding the
leadership lock also relays the outbox and runs the periodic reconciliation:
incremental (what changed since the previous run), and full whenever the last
full run is older than `window.FULL_RUN_INTERVAL_S` or the previous run is no
sound start (see services/ledger/service_layer/reconciliation/window.py).
"""

from __future__ import annotations

import asyncio
import signal
import time

import uvloop

from services.common import retry
from services.common.health import start_health_server
from services.common.health_report import HealthMonitor
from services.common.logging import configure_logging, get_logger
from services.common.settings import Settings, get_settings
from services.ledger.adapters import metrics
from services.ledger.adapters.leadership import Leadership
from services.ledger.bootstrap import Ledger, bootstrap
from services.ledger.service_layer.posting import post_messages
from services.ledger.service_layer.reconciliation import input_offsets, run_reconciliation

log = get_logger("services.ledger.worker")
# A pause of a second between tries, for as long as `retry.OUTAGE` waits in all.
POSTING_RETRY = retry.Policy(
    attempts_max=int(retry.OUTAGE.attempts_max * retry.OUTAGE.pause_max_s), pause_first_s=1.0, pause_max_s=1.0
)
RETRIES_LOGGED_MAX = 10  # then one line per RETRIES_LOGGED_MAX retries
STOP_TIMEOUT_S = 20.0  # a batch in hand gets this long to be posted and committed at shutdown
LEADERSHIP_CHECK_S = 5.0
RECONCILIATION_SHARE_MAX = 0.1


async def consume_until(ledger: Ledger, stop: asyncio.Event) -> None:
    """One batch at a time: post it in one transaction, then note its offsets to commit (committed at most
    every second); retry it until it goes in."""
    consumer = ledger.consumer
    while not stop.is_set():
        messages = await consumer.next_batch()
        if not messages:
            async with consumer.batch_lock:
                await consumer.commit_due()  # what the last batches posted, once idle
            continue
        async with consumer.batch_lock:
            await _post_until_done(ledger, messages)
            await consumer.commit(messages)
        ledger.relay.wake()


async def _post_until_done(ledger: Ledger, messages) -> None:
    """Post the batch, waiting the database out (`retry.OUTAGE`); once that is spent the worker ends,
    uncommitted."""

    def retrying(attempt: int, error: BaseException, pause_s: float) -> None:
        metrics.BATCH_RETRIES.inc()
        if attempt <= RETRIES_LOGGED_MAX or attempt % RETRIES_LOGGED_MAX == 0:
            log.warning(
                "ledger_batch_retry",
                attempt=attempt,
                messages=len(messages),
                error=str(error),
                pause_s=pause_s,
            )

    started = time.perf_counter()
    outcome = await retry.until_done(
        lambda: post_messages(ledger.pool, messages), POSTING_RETRY, retry.TRANSIENT_ERRORS, retrying
    )
    metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
    metrics.BATCH_SIZE.observe(len(messages))
    metrics.POSTINGS.labels("posted").inc(len(outcome.posted))
    metrics.POSTINGS.labels("repeated").inc(outcome.repeated)
    metrics.POSTINGS.labels("unpostable").inc(outcome.unpostable)
    for reason in outcome.refused:
        metrics.UNPOSTABLE.labels(reason).inc()
    log.debug(
        "ledger_batch_posted",
        messages=len(messages),
        posted=len(outcome.posted),
        repeated=outcome.repeated,
        unpostable=outcome.unpostable,
    )


def next_reconciliation_wait_s(interval_s: float, took_s: float) -> float:
    """The configured interval, or longer: the periodic run takes at most RECONCILIATION_SHARE_MAX of a core.

    A full run reads the whole journal (42 s at 1,000,000 batteries on an idle 2-core machine, 73 s under
    load, before revision 0014); every 5 minutes that was a quarter of one core taken from posting. Most runs
    are incremental now; after a full one the next waits in proportion, as before.
    """
    return max(interval_s, took_s * (1 / RECONCILIATION_SHARE_MAX - 1))


async def reconcile_forever(ledger: Ledger, interval_s: float) -> None:
    wait_s = interval_s
    while True:
        await asyncio.sleep(wait_s)
        started = time.perf_counter()
        try:
            run_id, result = await run_reconciliation(ledger.pool, input_offsets(ledger.settings))
        except (
            Exception
        ) as error:  # a failed run is logged and retried next interval; the worker keeps posting
            log.error("ledger_reconciliation_failed", error=str(error))
            continue
        took_s = time.perf_counter() - started
        wait_s = next_reconciliation_wait_s(interval_s, took_s)
        failed = [check["name"] for check in result["checks"] if not check["ok"]]
        metrics.RECONCILIATION_SECONDS.observe(took_s)
        metrics.RECONCILIATION_RUNS.labels(result["status"]).inc()
        metrics.RECONCILIATION_FAILED_CHECKS.set(len(failed))
        log.info(
            "ledger_reconciliation_completed",
            run_id=str(run_id),
            status=result["status"],
            failed_checks=failed,
            mode=result["scope"]["mode"],
            why_full=result["scope"]["why_full"],
            took_s=round(took_s, 3),
            next_in_s=round(wait_s, 1),
        )
        ledger.relay.wake()


async def lead_when_possible(ledger: Ledger, leadership: Leadership) -> None:
    """Relay the outbox and reconcile only while this worker holds the leadership (one of each per schema)."""
    duties: list[asyncio.Task] = []
    try:
        while True:
            leading = await leadership.try_lead()
            if leading and not duties:
                duties = [
                    asyncio.create_task(ledger.relay.run_forever()),
                    asyncio.create_task(reconcile_forever(ledger, ledger.settings.reconciliation_interval_s)),
                ]
            elif not leading and duties:
                await _cancel(duties)
                duties = []
            for duty in (d for d in duties if d.done()):
                duty.result()  # a duty that died: re-raise, the worker exits non-zero
            await asyncio.sleep(LEADERSHIP_CHECK_S)
    finally:
        await _cancel(duties)
        await leadership.close()


async def _cancel(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run(settings: Settings) -> None:
    ledger = await bootstrap(settings)
    monitor = HealthMonitor(ledger.pool, settings)
    health = await start_health_server(
        settings.http_host, settings.ledger_metrics_port, ledger.consumer.ready, lambda: monitor.report
    )
    log.info("ledger_started", port=settings.ledger_metrics_port, batch_max_events=settings.batch_max_events)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    consuming = asyncio.create_task(consume_until(ledger, stop))
    helpers = [
        asyncio.create_task(lead_when_possible(ledger, Leadership(settings.database_url))),
        asyncio.create_task(monitor.run_forever()),
    ]
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopped, consuming, *helpers], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    await asyncio.wait([consuming], timeout=STOP_TIMEOUT_S)
    await _cancel([consuming, *helpers])
    await health.cleanup()
    await ledger.stop()
    log.info("ledger_stopped")
    for task in done - {stopped}:
        task.result()  # a task that died: re-raise, exit non-zero


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, service="ledger")
    uvloop.run(run(settings))  # the native event loop, as the gateway and the stream workers run on


if __name__ == "__main__":
    main()
