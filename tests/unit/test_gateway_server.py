"""The gateway's server: each worker may hold as many connections as it may open files, the soft limit on open
files raised first (many systems start a process at 1,024, fewer than 1,000 waiting requests need)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from services.common.settings import PROJECT_ROOT, Settings
from services.gateway.entrypoints import server, supervisor

INFINITY = resource.RLIM_INFINITY
WANTED, MOST = server.CONNECTIONS_MAX + server.FDS_RESERVED, server.CONNECTIONS_MAX


@pytest.fixture
def limits(monkeypatch):
    """The process's (soft, hard) limit on open files, faked: what the server sets is recorded."""
    state = {"limits": (1024, 4096)}
    monkeypatch.setattr(server.resource, "getrlimit", lambda _which: state["limits"])
    monkeypatch.setattr(server.resource, "setrlimit", lambda _which, value: state.update(limits=value))
    return state


@pytest.mark.parametrize(
    ("before", "after", "connections"),
    [
        ((1024, 4096), (4096, 4096), 4096 - server.FDS_RESERVED),  # raised as far as the hard limit allows
        ((1024, 1_048_576), (WANTED, 1_048_576), MOST),
        ((1024, INFINITY), (WANTED, INFINITY), MOST),
        ((65_536, 65_536), (65_536, 65_536), MOST),  # already enough: left alone
        ((INFINITY, INFINITY), (INFINITY, INFINITY), MOST),
        ((256, 256), (256, 256), 256 - server.FDS_RESERVED),  # cannot be raised: fewer connections
    ],
)
def test_a_worker_raises_its_open_files_limit_and_takes_no_more_connections_than_it_allows(
    limits, before, after, connections
):
    limits["limits"] = before
    assert server.connections_max() == connections
    assert limits["limits"] == after


def test_the_supervisor_imports_neither_the_settings_nor_the_logging_nor_the_app():
    """The process that lives as long as the gateway (several workers) holds only the HTTP server: what the
    settings' validation, the structured logging and the app import is in the workers alone."""
    only_the_workers = (
        "pydantic",
        "pydantic_settings",
        "structlog",
        "fastapi",
        "services.common",
        "aiokafka",
    )
    imported = subprocess.run(
        [sys.executable, "-c", f"import {supervisor.__name__}, sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    ).stdout.split()
    assert supervisor.__name__ in imported
    assert [
        name for name in imported if name.split(".")[0] in only_the_workers or name in only_the_workers
    ] == []
    assert not [name for name in imported if name.startswith("services.common.")]


def test_several_workers_replace_the_process_by_the_supervisor_with_what_was_read_from_the_settings(
    monkeypatch, tmp_path
):
    """Same process (the workers' parent is the pid in the pid file), the port, workers, connections and
    log level as read; the metrics folder made empty and named in the environment the supervisor keeps."""
    (tmp_path / "run" / "gateway-metrics").mkdir(parents=True)
    (tmp_path / "run" / "gateway-metrics" / "counter_1.db").write_bytes(b"a previous run's")
    settings = Settings(
        gateway_workers=3, http_host="127.0.0.9", http_port=48123, state_dir=tmp_path, log_level="debug"
    )
    monkeypatch.setattr(server, "get_settings", lambda: settings)
    monkeypatch.setattr(server, "configure_logging", lambda *_a, **_k: None)
    monkeypatch.setattr(server, "connections_max", lambda: 777)
    monkeypatch.delenv(server.METRICS_DIR_ENV, raising=False)
    monkeypatch.delenv(server.SUPERVISOR_PID_ENV, raising=False)
    replaced = {}
    monkeypatch.setattr(server.os, "execv", lambda path, argv: replaced.update(path=path, argv=argv))
    server.main()
    assert replaced["path"] == sys.executable
    assert replaced["argv"] == [
        sys.executable,
        "-m",
        supervisor.__name__,
        "127.0.0.9",
        "48123",
        "3",
        "777",
        "debug",
    ]
    assert os.environ[server.SUPERVISOR_PID_ENV] == str(os.getpid())
    assert os.environ[server.METRICS_DIR_ENV] == str(tmp_path / "run" / "gateway-metrics")
    assert list((tmp_path / "run" / "gateway-metrics").iterdir()) == []
    served = {}
    monkeypatch.setattr(supervisor, "serve", lambda app, **options: served.update(app=app, **options))
    supervisor.main(replaced["argv"][3:])
    assert served == {"app": None, "workers": 3, "host": "127.0.0.9", "port": 48123, "connections": 777}
