"""A part of the stack away for a while (restarting, stopped, failing over): one list of what "away"
means for a client of the stack, and one bounded wait through it.

For the drivers of the running stack (`takeback demo`, `bench`, `chaos`): a call
that fails because the database, the broker or the gateway is away is made again
(the same event bytes, hence the same event_id: the contract's idempotency) until
it succeeds, or the outage outlasts its window and `OutageTooLong` says so in one
sentence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from aiokafka.errors import KafkaError

from services.common.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")

# The database is away: refused, shutting down, starting up, connection lost (or ended by the server and not
# yet closed: `InternalClientError`), query timed out.
DATABASE_AWAY = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)
BROKER_AWAY = (KafkaError,)
OUTAGE_WINDOW_S = 300.0  # an outage longer than this ends the run with a message
QUERY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0
RETRY_WAIT_FIRST_S = 0.2
RETRY_WAIT_MAX_S = 2.0


class OutageTooLong(RuntimeError):
    """A part of the stack stayed away for longer than the caller's window."""


async def through_outage(
    call: Callable[[], Awaitable[T]],
    what: str,
    away: tuple[type[BaseException], ...],
    window_s: float = OUTAGE_WINDOW_S,
    on_retry: Callable[[], None] | None = None,
) -> T:
    """`await call()`, made again while it fails with one of `away`, for at most `window_s` seconds."""
    deadline, wait_s = time.monotonic() + window_s, RETRY_WAIT_FIRST_S
    while True:
        try:
            return await call()
        except away as error:
            if time.monotonic() > deadline:
                raise OutageTooLong(
                    f"{what}: still failing after {window_s:.0f} s "
                    f"({type(error).__name__}: {str(error)[:200]})"
                ) from None
            log.info("outage_wait", what=what, error=type(error).__name__, wait_s=wait_s)
            if on_retry is not None:
                on_retry()
            await asyncio.sleep(getattr(error, "retry_after_s", None) or wait_s)
            wait_s = min(wait_s * 2, RETRY_WAIT_MAX_S)


async def fetch(pool: asyncpg.Pool, query: str, *args, window_s: float = OUTAGE_WINDOW_S) -> list:
    """Rows of a read, waiting out an outage of the database."""
    return await through_outage(
        lambda: pool.fetch(query, *args, timeout=QUERY_TIMEOUT_S),
        "reading the database",
        DATABASE_AWAY,
        window_s,
    )


async def fetchval(pool: asyncpg.Pool, query: str, *args, window_s: float = OUTAGE_WINDOW_S):
    return await through_outage(
        lambda: pool.fetchval(query, *args, timeout=QUERY_TIMEOUT_S),
        "reading the database",
        DATABASE_AWAY,
        window_s,
    )


async def create_client_pool(url: str, max_size: int = 2) -> asyncpg.Pool:
    """A driver's pool: no idle connection to restore while the database is away, bounded connects."""
    return await asyncpg.create_pool(url, min_size=0, max_size=max_size, timeout=CONNECT_TIMEOUT_S)
