"""`takeback bench --gateway` and `--counter`: the gateway's own speed, and the return counter's answer.

- gateway: collections (orphans: no sale needed) sent by `SOURCES` return centres,
  each with its own key, `GATEWAY_IN_FLIGHT` at once: the accept rate (202s a second)
  is the maximum; then, once the stack has settled (both outboxes sent, every consumer
  group caught up: `settled_s`), the same count again at half that rate, whose latencies
  are the figures at half load. The gateway's CPU (every worker) and the generator's per request.
- counter: sales produced to Kafka first (as `takeback bench` does); then collections
  of those batteries over HTTP with `Prefer: wait=10`, `COUNTER_IN_FLIGHT` at once:
  decisions (200s) a second is the maximum; then, once the stack has settled, as many
  again at half that rate: p50
  and p99 of the time to the decision (a 202, not decided within 10 s, counts with its
  10 s; any other answer is counted apart).
- waiters: as many collections as asked, all sent at once with `Prefer: wait=10`, half
  of batteries sold beforehand (each refunded), half of batteries never sold (taken
  back free): how many were answered, how many with their right outcome (or a 202 once
  the wait expired), how many 5xx; p50 and p99 of the time to the answer; the resident
  memory of the gateway's processes, sampled while they wait (each one's and their sum),
  and the sum of what each holds alone (its private pages: a sum of resident memory counts
  the shared libraries' pages once per process).

Keys are made for the run as the owner role and revoked at its end.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence

import asyncpg
import orjson

from services.bench import scenario
from services.bench.http_load import Load, Request, at_once, at_rate, in_flight, latency_ms
from services.bench.memory import (
    TICKS_PER_S,
    cpu_ticks,
    private_kb,
    process_tree,
    proportional_kb,
    resident_kb,
)
from services.common import health_report
from services.common.kafka import events_producer
from services.common.settings import Settings
from services.gateway.adapters.key_repository import PostgresKeyRepository
from services.gateway.service_layer.keys import create_key, revoke_key

SOURCES = 50  # return centres, a key each
GATEWAY_IN_FLIGHT = 50
COUNTER_IN_FLIGHT = 200
WAIT_S = 10
SALES_APPLIED_TIMEOUT_S = 600.0
SETTLE_TIMEOUT_S = 300.0
POLL_S = 0.5
WAITERS_FIRST_BATTERY = 50_000_000  # the waiters' batteries, apart from the counter's of the same run
MEMORY_SAMPLE_S = 0.05
Progress = Callable[[str, int, int], None]


class HttpBench:
    def __init__(self, settings: Settings, progress: Progress) -> None:
        self.settings, self.progress = settings, progress
        self.url = f"http://{settings.http_host}:{settings.http_port}"
        self.names = scenario.Names(run=f"H{uuid.uuid4().hex[:8]}")
        self.run_dir = settings.state_dir / "run"

    async def gateway(self, requests: int, rate: float = 0) -> dict:
        """The accept rate with GATEWAY_IN_FLIGHT in flight, and latency at half that rate (at `rate`, if
        given)."""
        async with self._keys() as keys:
            self.progress(f"gateway: {requests} events, {GATEWAY_IN_FLIGHT} in flight", 0, 1)
            full, full_cpu = await self._measured(
                lambda: in_flight(self.url, self._collections(keys, range(requests), "G1"), GATEWAY_IN_FLIGHT)
            )
            rate = rate or full.rate_per_s(202) / 2
            settled_s = await self._settle()
            self.progress(f"gateway: {requests} events at {rate:.0f}/s", 0, 1)
            half, half_cpu = (
                await self._measured(
                    lambda: at_rate(self.url, self._collections(keys, range(requests), "G2"), rate)
                )
                if rate > 0
                else (Load(), 0.0)
            )
        return {
            "requests": requests,
            "in_flight": GATEWAY_IN_FLIGHT,
            "sources": SOURCES,
            "accepted_per_second": round(full.rate_per_s(202), 1),
            "statuses": _statuses(full),
            **latency_ms(full.seconds(202)),
            "settled_s": settled_s,
            "half_rate_per_second": round(rate, 1),
            "half_statuses": _statuses(half),
            **{f"half_{name}": value for name, value in latency_ms(half.seconds(202)).items()},
            "gateway_cpu_ms_per_request": round(1000 * (full_cpu + half_cpu) / (2 * requests), 3),
            "generator_cpu_ms_per_request": round(
                1000 * (full.generator_cpu_s + half.generator_cpu_s) / (2 * requests), 3
            ),
        }

    async def counter(self, collections: int, rate: float = 0) -> dict:
        """`Prefer: wait` decisions of collections: the most a second, then p50 and p99 at half that rate (at
        `rate`, if given)."""
        half_count = max(1, collections // 2)
        batteries = range(0, 2 * half_count)
        await self._sell(batteries)
        await self._settle()
        async with self._keys() as keys:
            wait = {"Prefer": f"wait={WAIT_S}"}
            self.progress(f"counter: {half_count} collections, {COUNTER_IN_FLIGHT} in flight", 0, 1)
            most = await in_flight(
                self.url, self._collections(keys, batteries[:half_count], "K1", wait), COUNTER_IN_FLIGHT
            )
            rate = rate or most.rate_per_s(200) / 2
            settled_s = await self._settle()
            self.progress(f"counter: {half_count} collections at {rate:.1f}/s", 0, 1)
            half = (
                await at_rate(self.url, self._collections(keys, batteries[half_count:], "K2", wait), rate)
                if rate > 0
                else Load()
            )
        return {
            "collections": 2 * half_count,
            "in_flight": COUNTER_IN_FLIGHT,
            "wait_s": WAIT_S,
            "decisions_per_second_max": round(most.rate_per_s(200), 1),
            "statuses_max": _statuses(most),
            "settled_s": settled_s,
            "rate_per_second": round(rate, 1),
            "statuses": _statuses(half),
            **latency_ms(half.seconds(200, 202)),
            "generator_cpu_s": round(most.generator_cpu_s + half.generator_cpu_s, 2),
        }

    async def waiters(self, count: int) -> dict:
        """`count` collections sent at once with `Prefer: wait`: answered, right, 5xx, time to the answer,
        and the gateway's resident memory meanwhile."""
        sold = range(WAITERS_FIRST_BATTERY, WAITERS_FIRST_BATTERY + count // 2)
        await self._sell(sold)
        async with self._keys() as keys:
            wait = {"Prefer": f"wait={WAIT_S}"}
            requests = self._collections(keys, sold, "K", wait) + self._collections(
                keys, range(count - len(sold)), "W", wait
            )
            self.progress(f"waiters: {count} collections at once", 0, 1)
            memory = _GatewayMemory(self.run_dir)
            sampling = asyncio.create_task(memory.sample())
            try:
                load = await at_once(self.url, requests)
            finally:
                sampling.cancel()
        expected = [_refunded] * len(sold) + [_taken_back_free] * (count - len(sold))
        verdicts = [
            _verdict(status, seconds, body, request, right)
            for (status, seconds), body, request, right in zip(
                load.answers, load.bodies, requests, expected, strict=True
            )
        ]
        return {
            "waiters": count,
            "wait_s": WAIT_S,
            "in_flight_peak": load.in_flight_peak,
            "statuses": _statuses(load),
            "answered": sum(status != 0 for status, _ in load.answers),
            "outcomes_correct": verdicts.count("right"),
            "expired_202": verdicts.count("expired"),
            "wrong": verdicts.count("wrong"),
            "server_errors_5xx": sum(status >= 500 for status, _ in load.answers),
            **latency_ms(load.seconds(200, 202)),
            "gateway_rss_mb_before": memory.before_mb,
            "gateway_peak_rss_mb": memory.peaks_mb(),
            "gateway_private_mb_before": memory.private_before_mb,
            "gateway_peak_private_mb": _mb(memory.peak_private_kb),
            "gateway_pss_mb_before": memory.pss_before_mb,
            "gateway_peak_pss_mb": memory.pss_peaks_mb(),
            "generator_cpu_s": round(load.generator_cpu_s, 2),
        }

    async def _measured(self, run) -> tuple[Load, float]:
        """The load and the gateway's CPU seconds (every worker process) while it ran."""
        before = cpu_ticks(self.run_dir).get("gateway", 0)
        load = await run()
        return load, (cpu_ticks(self.run_dir).get("gateway", 0) - before) / TICKS_PER_S

    def _keys(self):
        return _BenchKeys(self.settings.database_owner_url, f"{self.names.run}-centre", SOURCES)

    def _collections(
        self,
        keys: Sequence[tuple[str, str]],
        batteries: range,
        tag: str,
        headers: dict[str, str] | None = None,
    ) -> list[Request]:
        requests = []
        for index, battery in enumerate(batteries):
            plaintext, centre = keys[index % len(keys)]
            serial = (
                self.names.serial(battery) if tag.startswith("K") else f"{self.names.run}-{tag}-{battery:08d}"
            )  # K: sold before; any other tag: never sold
            body = scenario.encode(scenario.collection(centre, serial))
            requests.append(
                Request(
                    "/v1/events",
                    body,
                    {
                        "Authorization": f"Bearer {plaintext}",
                        "Content-Type": "application/json",
                        **(headers or {}),
                    },
                )
            )
        return requests

    async def _settle(self) -> float:
        """Wait until the stack has done what the requests so far asked of it (both outboxes sent, every
        consumer group caught up), so a run at half the rate measures half the load, not the backlog the
        run at full speed left; the seconds it took."""

        async def look(connection: asyncpg.Connection) -> tuple[bool, str]:
            unsent = sum(relay["unsent"] for relay in await health_report.relays(connection))
            lag = await health_report.consumer_lag(self.settings)
            done = unsent == 0 and all(behind == 0 for behind in lag.values())
            return done, f"settling: {unsent} unsent, consumers behind by {lag}"

        return await self._until(look, SETTLE_TIMEOUT_S)

    async def _sell(self, batteries: range) -> None:
        """The batteries sold through Kafka, and applied, before the counter opens."""
        producer = events_producer(self.settings, acks="all", enable_idempotence=True, linger_ms=5)
        await producer.start()
        try:
            sends = [
                await producer.send(topic, scenario.encode(make()), key=key.encode())
                for topic, key, make in scenario.sales(self.names, batteries)
            ]
            await asyncio.gather(*sends)
        finally:
            await producer.stop()
        low, high = self.names.serial(batteries.start), self.names.serial(batteries.stop)

        async def look(connection: asyncpg.Connection) -> tuple[bool, str]:
            sold = await connection.fetchval(
                "SELECT count(*) FROM scheme.batteries"
                " WHERE serial >= $1 AND serial < $2 AND state = 'in_use'",
                low,
                high,
            )
            return sold >= len(batteries), f"counter: {sold} of {len(batteries)} batteries sold"

        await self._until(look, SALES_APPLIED_TIMEOUT_S)

    async def _until(self, look: Callable, timeout_s: float) -> float:
        """Ask `look(connection)` every POLL_S until it says done, showing what it says; the seconds it
        took, or TimeoutError with what it said last."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        connection = await asyncpg.connect(self.settings.database_url)
        try:
            while True:
                done, said = await look(connection)
                if done:
                    return round(loop.time() - started, 1)
                self.progress(said, 0, 1)
                if loop.time() > started + timeout_s:
                    raise TimeoutError(f"{said} after {timeout_s} s")
                await asyncio.sleep(POLL_S)
        finally:
            await connection.close()


class _BenchKeys:
    """`count` return-centre keys for the run: [(plaintext, centre id)]; revoked on the way out."""

    def __init__(self, owner_url: str, prefix: str, count: int) -> None:
        self.owner_url, self.prefix, self.count = owner_url, prefix, count

    async def __aenter__(self) -> list[tuple[str, str]]:
        self.connection = await asyncpg.connect(self.owner_url)
        repository = PostgresKeyRepository(self.connection)
        self.made = [
            await create_key(repository, "return_centre", f"{self.prefix}-{i}") for i in range(self.count)
        ]
        return [(plaintext, stored.source_id) for plaintext, stored in self.made]

    async def __aexit__(self, *_) -> None:
        try:
            repository = PostgresKeyRepository(self.connection)
            for _, stored in self.made:
                await revoke_key(repository, stored.key_id)
        finally:
            await self.connection.close()


class _GatewayMemory:
    """VmRSS and PSS of each of the gateway's processes (the supervisor, its workers, their helper), every
    MEMORY_SAMPLE_S: each one's peaks and the peaks of their sums (and of the sum of their private memory)."""

    def __init__(self, run_dir) -> None:
        root = int((run_dir / "gateway.pid").read_text().strip())
        self.names = {pid: _process_name(pid, root) for pid in process_tree(root)}
        self.peak_kb = dict.fromkeys(self.names, 0)
        self.peak_pss_kb = dict.fromkeys(self.names, 0)
        self.peak_total_kb = self.peak_private_kb = self.peak_pss_total_kb = 0
        self.before_mb = _mb(sum(resident_kb(list(self.names)).values()))
        self.private_before_mb = _mb(sum(private_kb(list(self.names)).values()))
        self.pss_before_mb = _mb(sum(proportional_kb(list(self.names)).values()))

    async def sample(self) -> None:
        while True:
            now = resident_kb(list(self.names))
            self.peak_kb = {pid: max(kb, now[pid]) for pid, kb in self.peak_kb.items()}
            self.peak_total_kb = max(self.peak_total_kb, sum(now.values()))
            self.peak_private_kb = max(self.peak_private_kb, sum(private_kb(list(self.names)).values()))
            pss = proportional_kb(list(self.names))
            self.peak_pss_kb = {pid: max(kb, pss[pid]) for pid, kb in self.peak_pss_kb.items()}
            self.peak_pss_total_kb = max(self.peak_pss_total_kb, sum(pss.values()))
            await asyncio.sleep(MEMORY_SAMPLE_S)

    def peaks_mb(self) -> dict[str, float]:
        return {
            **{self.names[pid]: _mb(kb) for pid, kb in sorted(self.peak_kb.items())},
            "total": _mb(self.peak_total_kb),
        }

    def pss_peaks_mb(self) -> dict[str, float]:
        return {
            **{self.names[pid]: _mb(kb) for pid, kb in sorted(self.peak_pss_kb.items())},
            "total": _mb(self.peak_pss_total_kb),
        }


def _process_name(pid: int, root: int) -> str:
    """`gateway` (one process), `supervisor`, `worker-<pid>`, or `helper-<pid>` (the supervisor's
    resource tracker)."""
    try:
        command = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        command = b""
    if pid == root:
        return "gateway" if b"services.gateway" in command and not _has_workers(root) else "supervisor"
    return f"worker-{pid}" if b"spawn_main" in command else f"helper-{pid}"


def _has_workers(root: int) -> bool:
    return len(process_tree(root)) > 1


def _mb(kb: int) -> float:
    return round(kb / 1024, 1)


def _refunded(outcome: dict) -> bool:
    refund = {"amount": scenario.DEPOSIT, "currency": scenario.CURRENCY, "method": "cash"}
    return outcome.get("taken_back") == "refunded" and outcome.get("refund") == refund


def _taken_back_free(outcome: dict) -> bool:
    return outcome.get("taken_back") == "taken_back_free" and outcome.get("refund") is None


def _verdict(status: int, seconds: float, body: bytes, request: Request, right) -> str:
    """`right` (200, applied, its own event, the outcome expected), `expired` (202 once the wait was over),
    else `wrong`."""
    event_id = orjson.loads(request.body)["event_id"]
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "wrong"
    if status == 202 and seconds >= WAIT_S and answer == {"event_id": event_id, "status": "accepted"}:
        return "expired"
    decided = status == 200 and answer.get("event_id") == event_id and answer.get("status") == "applied"
    return "right" if decided and right(answer.get("outcome") or {}) else "wrong"


def _statuses(load: Load) -> dict[str, int]:
    return {str(status): count for status, count in sorted(load.statuses.items())}
