"""The database's transient errors, listed once, and the one bounded retry loop the streams and the
ledger share.

A worker that holds a batch waits the database out: the same batch is tried
again, never skipped and never acknowledged unapplied. The wait is bounded
(`Policy.attempts_max`): once spent, the last error goes up and the worker ends
without acknowledging, so the batch is delivered again to whoever runs next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

T = TypeVar("T")

# The database is away, restarting, out of resources or rolled the transaction back (deadlock, serialization):
# nothing was applied, and the same work may succeed later. Never a reason to reject an event.
# `InternalClientError`: a pooled connection whose server ended it (the shutdown's last message read, the
# close not yet) is handed out, and its next statement finds the protocol still busy with that message.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.TransactionRollbackError,
)
# Two writers raced for the same new rows (or each other's locks): the loser rolled back; tried again soon.
RACE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.UniqueViolationError,
    asyncpg.TransactionRollbackError,
)


@dataclass(frozen=True, slots=True)
class Policy:
    attempts_max: int
    pause_first_s: float
    pause_max_s: float  # the pause doubles from pause_first_s up to this

    def __post_init__(self) -> None:
        assert self.attempts_max >= 1, "at least one attempt"
        assert 0 < self.pause_first_s <= self.pause_max_s, "pauses grow from the first to the longest"


# A race between workers settles in a few short tries.
RACE = Policy(attempts_max=5, pause_first_s=0.05, pause_max_s=0.25)
# A database outage: about an hour (360 pauses of at most 10 s), then the worker ends and another takes over.
OUTAGE = Policy(attempts_max=360, pause_first_s=0.5, pause_max_s=10.0)


async def until_done(
    operation: Callable[[], Awaitable[T]],
    policy: Policy,
    retry_on: tuple[type[BaseException], ...] = TRANSIENT_ERRORS,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """`operation()`'s result, trying again on `retry_on` at most `policy.attempts_max` times in all.

    `on_retry(attempt, error, pause_s)` is told of each failed attempt that will be tried again (to log, to
    count); the last attempt's error is raised as it is.
    """
    pause_s = policy.pause_first_s
    for attempt in range(1, policy.attempts_max + 1):
        try:
            return await operation()
        except retry_on as error:
            if attempt == policy.attempts_max:
                raise
            if on_retry is not None:
                on_retry(attempt, error, pause_s)
        await asyncio.sleep(pause_s)
        pause_s = min(pause_s * 2, policy.pause_max_s)
    raise AssertionError("unreachable: the last attempt returns or raises")
