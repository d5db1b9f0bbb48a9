"""Killing parts of the running stack at seeded moments, and bringing each back after a short while.

Services (streams, ledger, gateway) and, when the stack has several, a Kafka
broker die by SIGKILL; PostgreSQL is stopped at once (SIGQUIT to the
postmaster: immediate shutdown, crash recovery at the next start). Each time,
`Stack.up()` (idempotent) restarts what is down after a random delay.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from infra.local.processes import Process
from infra.local.stack import SERVICES, Stack
from services.chaos.errors import ChaosError
from services.common.logging import get_logger

log = get_logger(__name__)
POSTGRES, BROKER = "postgres", "broker"
BROKER_PID_NAME = re.compile(r"kafka(-\d+)?")
KILL_SHARES = (0.05, 0.9)  # kills fall between these shares of the run's outcomes
POSTGRES_SHARES = (0.3, 0.7)
DOWN_S = (0.5, 3.0)  # how long a killed part stays down before the stack is brought back
EXIT_WAIT_S = 60.0
UP_ATTEMPTS_MAX = 3
UP_RETRY_WAIT_S = 2.0


@dataclass(frozen=True)
class Blow:
    at_share: float
    kind: str  # streams, ledger, gateway, broker or postgres
    target: str  # the process name (pid file) in the stack's run dir
    down_s: float


@dataclass(frozen=True)
class Struck:
    blow: Blow
    pid: int | None  # None: it was not running, nothing was killed
    back_after_s: float  # from the kill until the stack was up again
    also_down: tuple[
        str, ...
    ] = ()  # other parts found dead when the stack was brought back: they died on their own


def targets(stack: Stack) -> dict[str, list[str]]:
    """Process names by kind: each service's replicas; brokers only when there are several."""
    kinds = {service.name: [name for name, _, _ in service.instances(stack.settings)] for service in SERVICES}
    brokers = {p.name for p in getattr(stack, "brokers", [])}
    brokers |= {p.stem for p in stack.run_dir.glob("kafka*.pid") if BROKER_PID_NAME.fullmatch(p.stem)}
    if len(brokers) > 1:
        kinds[BROKER] = sorted(brokers)
    return kinds


def processes(stack: Stack) -> list[str]:
    """Every process of the stack by name: PostgreSQL, each broker, each service replica."""
    brokers = [p.name for p in getattr(stack, "brokers", [])] or ["kafka"]
    return [
        POSTGRES,
        *brokers,
        *(n for kind, names in targets(stack).items() if kind != BROKER for n in names),
    ]


def schedule(rng: random.Random, kills: int, kinds: dict[str, list[str]], stop_postgres: bool) -> list[Blow]:
    """`kills` blows over the kinds in turn (each round shuffled), plus one stop of PostgreSQL."""
    order: list[str] = []
    while len(order) < kills:
        round_ = sorted(kinds)
        rng.shuffle(round_)
        order += round_
    blows = [
        Blow(rng.uniform(*KILL_SHARES), kind, rng.choice(kinds[kind]), rng.uniform(*DOWN_S))
        for kind in order[:kills]
    ]
    if stop_postgres:
        blows.append(Blow(rng.uniform(*POSTGRES_SHARES), POSTGRES, POSTGRES, rng.uniform(*DOWN_S)))
    return sorted(blows, key=lambda b: b.at_share)


class Killer:
    def __init__(self, stack: Stack, blows: list[Blow], progress: Callable[[], float]):
        self.stack, self.blows, self.progress = stack, blows, progress
        self.struck: list[Struck] = []

    async def run(self) -> None:
        """Each blow once the run's progress reaches its share; one at a time, each part back before the
        next."""
        for blow in self.blows:
            while self.progress() < blow.at_share:
                await asyncio.sleep(0.1)
            self.struck.append(await self.strike(blow))

    async def strike(self, blow: Blow) -> Struck:
        started = time.monotonic()
        pid = await asyncio.to_thread(self._kill, blow)
        log.info("chaos_killed", kind=blow.kind, target=blow.target, pid=pid, down_s=round(blow.down_s, 2))
        await asyncio.sleep(blow.down_s)
        also_down = tuple(name for name in self._down() if name != blow.target)
        await asyncio.to_thread(self._bring_back)
        back_after_s = time.monotonic() - started
        log.info(
            "chaos_back",
            kind=blow.kind,
            target=blow.target,
            after_s=round(back_after_s, 2),
            also_down=also_down,
        )
        return Struck(blow, pid, back_after_s, also_down)

    def _down(self) -> list[str]:
        """Processes of the stack that are not running (a pid file whose process is gone, or none)."""
        return [
            n
            for n in processes(self.stack)
            if Process(n, self.stack.run_dir, self.stack.log_dir).pid() is None
        ]

    def _kill(self, blow: Blow) -> int | None:
        process = Process(blow.target, self.stack.run_dir, self.stack.log_dir)
        pid = process.pid()
        if pid is None:
            return None
        if blow.kind != POSTGRES:
            process.kill()
            return pid
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown: no checkpoint, crash recovery at the next start
        deadline = time.monotonic() + EXIT_WAIT_S
        while process.pid() is not None:
            if time.monotonic() > deadline:
                raise ChaosError(f"PostgreSQL (pid {pid}) did not stop within {EXIT_WAIT_S:.0f} s of SIGQUIT")
            time.sleep(0.05)
        return pid

    def _bring_back(self) -> None:
        bring_back(self.stack)


def bring_back(stack: Stack) -> None:
    """`Stack.up()`, tried again while a part is still recovering (or its port is briefly taken)."""
    for attempt in range(1, UP_ATTEMPTS_MAX + 1):
        try:
            stack.up()
            return
        except Exception as error:  # a part still recovering: try again, then say why it stays down
            log.warning("chaos_up_retry", attempt=attempt, error=str(error))
            if attempt == UP_ATTEMPTS_MAX:
                raise ChaosError(f"the stack did not come back: {error}") from None
            time.sleep(UP_RETRY_WAIT_S)
