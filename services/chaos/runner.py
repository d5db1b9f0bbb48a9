"""`takeback chaos`: drive the scheme's load through the running stack, kill its parts, check the books."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import httpx

from contracts import topics
from infra.local import kafka as local_kafka
from infra.local.stack import Stack, with_brokers
from services.chaos import checker, events_out
from services.chaos.books import reconcile_full
from services.chaos.errors import ChaosError
from services.chaos.killer import Killer, bring_back, processes, schedule, targets
from services.chaos.monitor import OutcomeMonitor
from services.chaos.report import ChaosReport, Copies, Load
from services.chaos.scenario import Scenario
from services.chaos.sender import Sender
from services.chaos.world import RunWorld
from services.common import db_roles
from services.common.kafka import client_options, events_producer
from services.common.logging import get_logger
from services.common.outage import create_client_pool, fetch
from services.common.settings import Settings
from services.gateway.adapters.key_repository import PostgresKeyRepository
from services.gateway.service_layer.keys import create_key

log = get_logger(__name__)
WAVE_TIMEOUT_S = 300.0  # a wave not applied by then: the stack is not coming back; stop and check
DRAIN_IDLE_S = 90.0  # the ledger posting nothing new for this long: what is missing then is lost
EVENTS_OUT_TIMEOUT_S = 180.0
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Run:
    """What the run set up before its load: the stack, the world, the clients' positions."""

    stack: Stack
    bootstrap: str
    world: RunWorld
    scenario: Scenario
    keys: dict[str, str]
    starts: dict


class Chaos:
    def __init__(
        self,
        settings: Settings,
        events: int,
        kills: int,
        seed: int,
        progress: Progress,
        stop_postgres: bool = True,
    ):
        self.settings, self.events, self.kills, self.seed = settings, events, kills, seed
        self.progress, self.stop_postgres = progress, stop_postgres

    async def run(self) -> ChaosReport:
        started = time.monotonic()
        # The local stack's reader role: what operators and the command line's reports read with.
        pool = await create_client_pool(self.settings.database_url_as(db_roles.READER))
        try:
            run = await self._prepare(pool)
            load, monitor, killer = await self._load(pool, run)
            verdict, copies = await self._check(pool, run, load)
            reconciliation = await reconcile_full(pool)
        finally:
            await pool.close()
        return ChaosReport(
            load,
            tuple(killer.struck),
            verdict,
            reconciliation,
            copies,
            monitor.stall_max_s,
            time.monotonic() - started,
        )

    async def _prepare(self, pool: asyncpg.Pool) -> Run:
        self.settings = _as_formatted(self.settings)
        stack = Stack(self.settings, say=lambda message: log.info("chaos_stack", message=message))
        parts = set(processes(stack))  # the processes; not the health report's other rows (lag, relays)
        down = [
            row["part"]
            for row in await asyncio.to_thread(stack.status)
            if row["part"] in parts and not row["healthy"]
        ]
        if down:
            raise ChaosError(f"the stack is not up ({', '.join(down)} down); start it with `takeback up`")
        bootstrap = getattr(stack, "bootstrap", self.settings.kafka_bootstrap)
        world = RunWorld.fresh()
        scenario = Scenario.sized(world, self.seed, self.events)
        return Run(
            stack,
            bootstrap,
            world,
            scenario,
            await _keys(self.settings.database_owner_url, world),
            await events_out.end_offsets(bootstrap, client_options(self.settings)),
        )

    async def _load(self, pool: asyncpg.Pool, run: Run) -> tuple[Load, OutcomeMonitor, Killer]:
        producer = events_producer(
            self.settings, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=512 * 1024
        )  # signed by the operator, for the run's sources
        await producer.start()
        http = httpx.AsyncClient(
            base_url=f"http://{self.settings.http_host}:{self.settings.http_port}", timeout=30.0
        )
        monitor = OutcomeMonitor(pool)
        sender = Sender(producer, http, run.keys, monitor.attempted)
        self.positions, finished = sender.counts.positions, False
        blows = schedule(random.Random(self.seed), self.kills, targets(run.stack), self.stop_postgres)
        killer = Killer(run.stack, blows, lambda: 1.0 if finished else monitor.outcomes / max(1, self.events))
        watching, killing = asyncio.create_task(monitor.run()), asyncio.create_task(killer.run())
        try:
            waves_done, aborted = await self._drive(run.scenario, sender, monitor, killing)
            finished = True
            await self._join(killing, cancel=aborted is not None)
        finally:
            monitor.stop()
            await asyncio.gather(watching, return_exceptions=True)
            await http.aclose()
            await producer.stop()
        await asyncio.to_thread(_bring_up, run.stack)  # every part up before the checks
        counts = sender.counts
        return (
            Load(
                run.world.run,
                self.seed,
                counts.kafka + counts.http,
                counts.kafka,
                counts.http,
                counts.retries,
                run.scenario.waves_total,
                waves_done,
                aborted,
            ),
            monitor,
            killer,
        )

    async def _drive(
        self, scenario: Scenario, sender: Sender, monitor: OutcomeMonitor, killing: asyncio.Task
    ) -> tuple[int, str | None]:
        """Each wave sent, then waited for; (waves done, why the run stopped early or None)."""
        done = 0
        for wave in scenario.waves():
            await sender.send_all(wave.events)
            while not await monitor.settled(timeout_s=1.0):
                self.progress("events with an outcome", monitor.outcomes, self.events)
                if killing.done() and killing.exception() is not None:
                    raise killing.exception()
                if monitor.stall_s() > WAVE_TIMEOUT_S:
                    return done, f"wave {wave.number}: no outcome for {WAVE_TIMEOUT_S:.0f} s"
            done += 1
            self.progress("events with an outcome", monitor.outcomes, self.events)
        return done, None

    async def _join(self, killing: asyncio.Task, cancel: bool) -> None:
        if cancel:
            killing.cancel()
        await asyncio.gather(killing, return_exceptions=cancel)

    async def _check(self, pool: asyncpg.Pool, run: Run, load: Load):
        low, high = run.world.subject_range()
        expect = run.scenario.expect
        await self._drain_ledger(pool, len(expect.entries), low, high)
        positions = self.positions
        out = events_out.EventsOut(f"{run.world.run}-", set(expect.events), set(positions.values()))
        refunds, entries = await _counts(pool, low, high)
        self.progress("events out read", 0, 1)
        await events_out.read(
            run.bootstrap,
            client_options(self.settings),
            run.starts,
            out,
            lambda o: o.distinct(topics.REFUNDS) >= refunds and o.distinct(topics.LEDGER) >= entries,
            EVENTS_OUT_TIMEOUT_S,
        )
        self.progress("events out read", 1, 1)
        verdict = await checker.check(pool, expect, out, positions, low, high)
        missing = max(0, refunds - out.distinct(topics.REFUNDS)) + max(
            0, entries - out.distinct(topics.LEDGER)
        )
        return verdict, Copies(out.events, out.messages, missing)

    async def _drain_ledger(self, pool: asyncpg.Pool, expected: int, low: str, high: str) -> None:
        """Until the ledger holds the entries the model expects, or posts nothing new for a while."""
        last, idle_since = -1, time.monotonic()
        while time.monotonic() - idle_since < DRAIN_IDLE_S:
            _, posted = await _counts(pool, low, high)
            self.progress("ledger entries posted", posted, expected)
            if posted >= expected:
                return
            if posted != last:
                last, idle_since = posted, time.monotonic()
            await asyncio.sleep(0.5)
        log.warning("chaos_ledger_not_drained", posted=last, expected=expected)


def _as_formatted(settings: Settings) -> Settings:
    """The settings of the stack as its Kafka data was formatted (one broker, or a cluster of several)."""
    formatted = local_kafka.formatted_for(settings.state_dir)
    return (
        with_brokers(settings, formatted) if formatted and formatted != settings.kafka_brokers else settings
    )


def _bring_up(stack: Stack) -> None:
    try:
        bring_back(stack)
    except ChaosError as error:  # the checks then say what stayed down
        log.error("chaos_stack_not_up", error=str(error))


async def _keys(owner_url: str, world: RunWorld) -> dict[str, str]:
    """An API key for each of the run's sources that speaks HTTP, as `takeback keys create` makes them
    (as owner)."""
    keys = {}
    connection = await asyncpg.connect(owner_url)
    try:
        repository = PostgresKeyRepository(connection)
        for kind, ids in (
            ("pos", world.stores),
            ("return_centre", world.centres),
            ("finance", (world.finance,)),
        ):
            for source_id in ids:
                keys[source_id], _ = await create_key(repository, kind, source_id)
    finally:
        await connection.close()
    return keys


async def _counts(pool: asyncpg.Pool, low: str, high: str) -> tuple[int, int]:
    """(refunds, journal entries) of the run's serials and lots, as the stack holds them."""
    [row] = await fetch(
        pool,
        "SELECT (SELECT count(*) FROM scheme.refunds WHERE serial >= $1 AND serial < $2)"
        " AS refunds, (SELECT count(*) FROM ledger.entries WHERE subject >= $1 "
        "AND subject < $2) AS entries",
        low,
        high,
    )
    return row["refunds"], row["entries"]
