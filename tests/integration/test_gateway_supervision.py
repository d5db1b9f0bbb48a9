"""The gateway's supervisor with several worker processes, over real HTTP on the real stack: a worker killed
with SIGKILL is replaced and the port keeps answering; a supervisor killed with SIGKILL takes its workers with
it (none keeps serving, or holding the port against the next start); SIGTERM stops them all cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from services.common.settings import PROJECT_ROOT
from tests.integration.test_gateway_support import (  # noqa: F401
    START_TIMEOUT_S,
    gateway,
    start_gateway,
)

WORKERS = 2
GATEWAY_ENV = {"TAKEBACK_GATEWAY_WORKERS": str(WORKERS)}
GONE_WITHIN_S = 5.0  # a worker gets SIGKILL from the kernel the moment its supervisor dies
STOPPED_WITHIN_S = 20.0  # the supervisor's graceful shutdown is 10 s; twice that on a busy machine


def ppid_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the name in parentheses may hold spaces


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited; only its parent's wait is left


def workers_of(supervisor: int) -> list[int]:
    """The supervisor's worker processes (its children running the worker code; not the helper process the
    standard library's spawn start method adds to track shared resources)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or ppid_of(int(entry.name)) != supervisor or not alive(int(entry.name)):
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if b"resource_tracker" not in command:
            found.append(int(entry.name))
    return sorted(found)


def wait_for(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"not within {timeout_s} s: {what}")


def answers(url: str, requests: int = 20) -> list[int]:
    """The statuses of `requests` GET /healthz, each on a new connection (so any worker may take it)."""
    statuses = []
    for _ in range(requests):
        with httpx.Client(timeout=10.0) as client:
            statuses.append(client.get(f"{url}/healthz").status_code)
    return statuses


def start_supervised_gateway(stack, log_path: Path) -> tuple[subprocess.Popen, str]:
    """A gateway of WORKERS workers of its own, once every worker runs: (its supervisor, its URL)."""
    server, url = start_gateway(stack, log_path, GATEWAY_ENV)
    try:
        wait_for(lambda: len(workers_of(server.pid)) == WORKERS, START_TIMEOUT_S, "every worker started")
    except BaseException:
        server.kill()
        server.wait(timeout=15)
        raise
    return server, url


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_worker_killed_is_replaced_and_every_request_still_answered(gateway):  # noqa: F811
    before = wait_for(lambda: (w := workers_of(gateway.pid)) and len(w) == WORKERS and w, START_TIMEOUT_S, "")
    victim = before[0]

    os.kill(victim, signal.SIGKILL)

    replaced = wait_for(
        lambda: (w := workers_of(gateway.pid)) and len(w) == WORKERS and victim not in w and w,
        START_TIMEOUT_S,
        f"a worker in place of {victim}",
    )
    assert before[1] in replaced, "the worker left alone kept running"
    assert alive(gateway.pid), "the supervisor itself went down with its worker"
    wait_for(lambda: _healthy(gateway.url), START_TIMEOUT_S, "healthy again")
    assert answers(gateway.url) == [200] * 20


def listening_on(port: int) -> Counter:
    """The processes listening on 127.0.0.1:port, each with how many listening sockets it holds there."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":  # 0A: LISTEN
            inodes.add(f"socket:[{fields[9]}]")
    holders = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        held = sum(link in inodes for link in links)
        if held:
            holders[int(entry.name)] = held
    return holders


def test_each_worker_listens_on_a_socket_of_its_own_and_its_replacement_too(gateway):  # noqa: F811
    """The kernel shares new connections among the workers' own sockets (`listeners`); the supervisor holds
    the port without listening, so no connection waits in a queue nobody accepts from."""
    port = int(gateway.url.rsplit(":", 1)[1])
    workers = wait_for(
        lambda: (w := workers_of(gateway.pid)) and len(w) == WORKERS and w, START_TIMEOUT_S, ""
    )
    wait_for(lambda: set(listening_on(port)) == set(workers), START_TIMEOUT_S, "every worker listening")
    assert listening_on(port) == Counter({pid: 1 for pid in workers})

    os.kill(workers[0], signal.SIGKILL)
    replaced = wait_for(
        lambda: (w := workers_of(gateway.pid)) and len(w) == WORKERS and workers[0] not in w and w,
        START_TIMEOUT_S,
        f"a worker in place of {workers[0]}",
    )
    wait_for(lambda: set(listening_on(port)) == set(replaced), START_TIMEOUT_S, "the replacement listening")
    assert listening_on(port) == Counter({pid: 1 for pid in replaced})
    assert answers(gateway.url) == [200] * 20


def test_a_second_gateway_on_a_port_a_gateway_serves_fails_at_start(gateway, stack, tmp_path):  # noqa: F811
    """Its workers' sockets would join the first one's (same user, `SO_REUSEPORT`): the port is tried
    first."""
    port = gateway.url.rsplit(":", 1)[1]
    env = {**os.environ, **stack.database_env("gateway"), **GATEWAY_ENV, "TAKEBACK_HTTP_PORT": port}
    second = subprocess.run(
        [sys.executable, "-m", "services.gateway.entrypoints.server"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert second.returncode != 0
    assert f"cannot bind 127.0.0.1:{port}" in second.stderr + second.stdout
    assert set(listening_on(int(port))) == set(workers_of(gateway.pid))


def test_a_supervisor_killed_takes_its_workers_with_it_and_frees_the_port(stack, tmp_path):
    server, url = start_supervised_gateway(stack, tmp_path / "gateway.log")
    workers = workers_of(server.pid)
    try:
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=15)

        wait_for(lambda: not any(alive(pid) for pid in workers), GONE_WITHIN_S, f"workers {workers} gone")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", timeout=2.0)
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_the_supervisor_and_every_worker_cleanly(stack, tmp_path):
    server, url = start_supervised_gateway(stack, tmp_path / "gateway.log")
    workers = workers_of(server.pid)
    try:
        server.send_signal(signal.SIGTERM)

        assert server.wait(timeout=STOPPED_WITHIN_S) == 0
        wait_for(lambda: not any(alive(pid) for pid in workers), GONE_WITHIN_S, f"workers {workers} gone")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", timeout=2.0)
    finally:
        if server.poll() is None:
            server.kill()
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
