"""The gateway's server: each worker may hold as many connections as it may open files, the soft limit on open
files raised first (many systems start a process at 1,024, fewer than 1,000 waiting requests need)."""

from __future__ import annotations

import resource

import pytest

from services.gateway.entrypoints import server

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
