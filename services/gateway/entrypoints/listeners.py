"""A listening socket of its own for each gateway worker: the kernel shares connections among them evenly.

With one socket shared by every worker, whichever worker wakes first accepts every connection waiting: a
client that opens its 50 keep-alive connections at once was measured with 45 on one worker and 5 on the
other, that one worker's core the limit of the whole gateway. With `SO_REUSEPORT`, each worker listens on a
socket of its own bound to the same address, and the kernel hands each new connection to one of them by a
hash of its addresses and ports (Linux: a group of such sockets is one user's, another user's cannot join).

The supervisor binds the address first, with the same option, and never listens on that socket: the port
is held (a second gateway fails at once, not when its workers start) without a queue nobody accepts from. A
worker that dies takes its socket with it: the connections still waiting in that socket's queue are reset
(a client connects again), new ones go to the other workers until the replacement listens.

Imported by the supervisor: the standard library and the HTTP server only."""

from __future__ import annotations

import socket

from uvicorn.supervisors import multiprocess


def reserved(host: str, port: int) -> socket.socket:
    """The supervisor's hold on host:port: bound with `SO_REUSEPORT`, not listening, inherited by the workers
    (who read its address from it). OSError if something listens there already: a socket with that option
    would join another gateway's workers (the same user's) instead of failing, so a plain socket tries the
    address first (only two gateways started in the same instant, before either's workers listen, pass)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # closed connections do not hold it
        probe.bind((host, port))
    held = socket.socket(family, socket.SOCK_STREAM)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    held.bind((host, port))
    held.set_inheritable(True)
    return held


def own_listener(held: socket.socket) -> socket.socket:
    """A worker's own socket on the address the supervisor holds (the server calls `listen` on it)."""
    own = socket.socket(held.family, socket.SOCK_STREAM)
    own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    own.bind(held.getsockname()[:2])
    held.close()  # the worker's copy of the supervisor's descriptor: the supervisor keeps its own
    return own


class OwnSocketWorker(multiprocess.Process):
    """uvicorn's worker process, serving on a socket of its own instead of the one its supervisor passed."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover - in the worker
        super().target([own_listener(held) for held in sockets or []])
