"""`python -m services.gateway.entrypoints.server`: the gateway on settings.http_host:http_port.

With `TAKEBACK_GATEWAY_WORKERS` above 1 (0: one per core this process may run on),
a supervisor binds the port once and runs that many worker processes on it, each a
whole gateway with its own clients (restarted if one dies). What each holds for
itself, and so what several of them still answer alike, is in the README ("The
gateway's worker processes"): keys, events and outcomes are read from PostgreSQL
and Kafka by every worker; rate limits are counted per worker; `/metrics` sums every
worker's counters from files shared in `<state dir>/run/gateway-metrics`. Once the settings are read and
that folder made, the process replaces itself by the lean supervisor (`supervisor.py`: same pid, only the HTTP
server imported), so the settings, the logging and the app are imported by the workers alone.
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import sys

from services.common.logging import configure_logging
from services.common.settings import Settings, get_settings
from services.gateway.entrypoints import supervisor

# Connections (and requests in progress) per worker process; beyond, uvicorn answers 503. Each holds a file
# descriptor, so a worker also raises its own limit of them (many systems start processes at 1,024).
CONNECTIONS_MAX = 10_000
FDS_RESERVED = 200  # descriptors kept for the worker's own clients (pool, Kafka, LISTEN, files)
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by the metrics library when a worker imports it
SUPERVISOR_PID_ENV = "TAKEBACK_GATEWAY_SUPERVISOR_PID"  # internal: set by the supervisor for its workers
PR_SET_PDEATHSIG = 1  # Linux prctl: a signal for this process when its parent dies


def worker_count(settings: Settings) -> int:
    """The worker processes to run: as set, or one per core this process may run on (0)."""
    return settings.gateway_workers or max(1, len(os.sched_getaffinity(0)))


def worker_app():
    """One worker's app (uvicorn calls this in each worker process)."""
    from prometheus_client import disable_created_metrics

    from services.gateway.entrypoints.app import create_app

    die_with_the_supervisor()
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, service="gateway")
    disable_created_metrics()  # no `_created` series: they double the exposition for no use here
    return create_app(settings)


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, service="gateway")
    workers = worker_count(settings)
    connections = connections_max()
    if workers == 1:
        address = {"host": settings.http_host, "port": settings.http_port}
        supervisor.serve(worker_app(), workers=1, connections=connections, **address)
        return
    shared_metrics_dir(settings)
    os.environ[SUPERVISOR_PID_ENV] = str(os.getpid())  # the same process after exec: the workers' parent
    arguments = supervisor.arguments(
        settings.http_host, settings.http_port, workers, connections, settings.log_level
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # The limit on open files raised above and the environment (metrics folder, supervisor pid) carry over.
    os.execv(sys.executable, [sys.executable, "-m", supervisor.__name__, *arguments])


def connections_max() -> int:
    """CONNECTIONS_MAX, or fewer if this process may not open that many files: the soft limit on open files
    is raised to the hard one first (the workers inherit it), so no connection is accepted that could not
    be served."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = CONNECTIONS_MAX + FDS_RESERVED
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard) and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft == resource.RLIM_INFINITY:
        return CONNECTIONS_MAX
    return max(1, min(CONNECTIONS_MAX, soft - FDS_RESERVED))


def die_with_the_supervisor() -> None:
    """A worker is killed when its supervisor dies, even by SIGKILL: no orphan keeps serving, or holding the
    port against the next start (`takeback up` after a crash). Linux only; elsewhere workers outlive a killed
    supervisor."""
    supervisor = os.environ.get(SUPERVISOR_PID_ENV)
    if supervisor is None or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != int(supervisor):  # it died before the line above
        os._exit(1)


def shared_metrics_dir(settings: Settings) -> None:
    """An empty folder for the workers' metric files (a previous run's counts are not this run's)."""
    folder = settings.state_dir / "run" / "gateway-metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[METRICS_DIR_ENV] = str(folder)


if __name__ == "__main__":
    main()
