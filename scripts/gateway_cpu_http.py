"""The gateway's CPU per `POST /v1/events` over HTTP, against the running stack; optionally beside another
checkout's gateway, loaded in turn in the same minutes.

    .venv/bin/takeback up
    .venv/bin/python scripts/gateway_cpu_http.py --requests 2000 --rounds 3
    git worktree add /somewhere/before <commit>
    .venv/bin/python scripts/gateway_cpu_http.py --against /somewhere/before

Each round sends `--requests` collections (orphans: no sale needed) with 50 in flight,
a key each in turn of 50 return-centre keys (revoked at the end), as `takeback bench
--gateway` does at full rate, and prints the CPU time (user + system, from /proc) of
every process of that gateway (supervisor and workers) over the requests, and the 202s
a second. With `--against`, a second gateway runs that checkout's code on a free port,
on the same PostgreSQL and Kafka (a state folder of its own, the stack's secrets), and
the two are loaded one after the other each round. CPU per request is far less
sensitive to other work on the machine than a rate; compare figures of the same run.
Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from infra.local.stack import SERVICES, Stack
from services.bench.http_bench import GATEWAY_IN_FLIGHT, SOURCES, HttpBench, _BenchKeys
from services.bench.http_load import in_flight
from services.bench.memory import TICKS_PER_S, _children, _cpu_ticks
from services.common.settings import Settings, get_settings

START_TIMEOUT_S = 120.0


def tree_ticks(pid: int) -> int:
    return _cpu_ticks(pid) + sum(_cpu_ticks(child) for child in _children(pid))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_against(checkout: Path, settings: Settings, state_dir: Path) -> tuple[subprocess.Popen, str]:
    """That checkout's gateway, as the stack starts its own, on a free port and a state folder of its own."""
    stack, port = Stack(settings), free_port()
    gateway = next(service for service in SERVICES if service.name == "gateway")
    (state_dir / "run").mkdir(parents=True)
    (state_dir / "secrets").symlink_to(settings.state_dir / "secrets")
    env = {
        **os.environ,
        **stack.service_env(gateway),
        **stack.database_env("gateway"),
        "TAKEBACK_HTTP_PORT": str(port),
        "TAKEBACK_STATE_DIR": str(state_dir),
        "PYTHONPATH": str(checkout),
    }
    log = open(state_dir / "gateway.log", "wb")  # the server's, until it stops
    server = subprocess.Popen(
        [sys.executable, "-m", "services.gateway.entrypoints.server"],
        cwd=checkout,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert server.poll() is None, (state_dir / "gateway.log").read_text()[-3000:]
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise TimeoutError(f"the gateway of {checkout} did not start in {START_TIMEOUT_S} s")


async def measure(requests: int, rounds: int, against: Path | None) -> None:
    settings = get_settings()
    own_pid = int((settings.state_dir / "run" / "gateway.pid").read_text())
    gateways = [("stack", f"http://{settings.http_host}:{settings.http_port}", own_pid)]
    bench = HttpBench(settings, lambda *_: None)
    with tempfile.TemporaryDirectory() as scratch:
        server = None
        if against is not None:
            server, url = start_against(against, settings, Path(scratch) / "state")
            gateways.insert(0, ("against", url, server.pid))
        try:
            async with _BenchKeys(settings.database_owner_url, f"{bench.names.run}-centre", SOURCES) as keys:
                for round_ in range(rounds):
                    for name, url, pid in gateways:
                        load_of = bench._collections(keys, range(requests), f"{name[0].upper()}{round_}")
                        before = tree_ticks(pid)
                        load = await in_flight(url, load_of, GATEWAY_IN_FLIGHT)
                        spent_s = (tree_ticks(pid) - before) / TICKS_PER_S
                        print(
                            f"round {round_ + 1} {name}: {1000 * spent_s / requests:.2f} ms CPU a request, "
                            f"{load.rate_per_s(202):.0f} accepted a second, statuses {dict(load.statuses)}",
                            flush=True,
                        )
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", type=Path, help="a checkout of another commit, run beside the stack's")
    arguments = parser.parse_args()
    asyncio.run(measure(arguments.requests, arguments.rounds, arguments.against))
