"""The one retry loop: tries again only on the errors it is given, and at most as often as its policy says."""

from __future__ import annotations

import asyncpg
import pytest

from services.common import retry

QUICK = retry.Policy(attempts_max=3, pause_first_s=0.001, pause_max_s=0.002)


def failing(errors: list[BaseException], result="done"):
    calls = []

    async def operation():
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return operation, calls


async def test_a_transient_error_is_tried_again_until_the_work_is_done():
    operation, calls = failing([ConnectionRefusedError(), asyncpg.DeadlockDetectedError()])
    told = []
    assert (
        await retry.until_done(operation, QUICK, on_retry=lambda n, e, s: told.append((n, type(e)))) == "done"
    )
    assert (len(calls), told) == (3, [(1, ConnectionRefusedError), (2, asyncpg.DeadlockDetectedError)])


async def test_the_last_attempts_error_goes_up_as_it_is():
    operation, calls = failing([OSError("away")] * 5)
    with pytest.raises(OSError, match="away"):
        await retry.until_done(operation, QUICK)
    assert len(calls) == QUICK.attempts_max


async def test_an_error_not_listed_is_not_tried_again():
    operation, calls = failing([asyncpg.UniqueViolationError()])
    with pytest.raises(asyncpg.UniqueViolationError):
        await retry.until_done(operation, QUICK)
    assert len(calls) == 1


def test_a_race_is_not_an_outage_and_the_database_away_is_never_a_poison_event():
    assert issubclass(asyncpg.UniqueViolationError, retry.RACE_ERRORS)
    assert not issubclass(asyncpg.UniqueViolationError, retry.TRANSIENT_ERRORS)
    for away in (
        ConnectionResetError,
        asyncpg.CannotConnectNowError,
        asyncpg.AdminShutdownError,
        asyncpg.SerializationError,
        asyncpg.DiskFullError,
    ):
        assert issubclass(away, retry.TRANSIENT_ERRORS)


def test_a_policy_is_bounded():
    with pytest.raises(AssertionError):
        retry.Policy(attempts_max=0, pause_first_s=1, pause_max_s=1)
    assert retry.OUTAGE.attempts_max * retry.OUTAGE.pause_max_s <= 3600
