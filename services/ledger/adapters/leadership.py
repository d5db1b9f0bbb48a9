"""One ledger worker at a time relays the outbox and reconciles: the holder of a PostgreSQL advisory lock.

Posting scales out with the consumer group (partitions spread over workers);
the outbox relay must run once per schema to keep its order, and one
reconciliation per interval is enough. The lock lives with its session: if the
holder dies or loses its connection, another worker takes over at its next try.
"""

from __future__ import annotations

import asyncpg

from services.common.logging import get_logger
from services.common.retry import TRANSIENT_ERRORS

log = get_logger(__name__)
LEDGER_LEADER_LOCK = 0x7461_6B65_6C65_6467  # "takeledg": an application-wide advisory lock key


class Leadership:
    def __init__(self, url: str) -> None:
        self.url = url
        self.connection: asyncpg.Connection | None = None
        self.leading = False

    async def try_lead(self) -> bool:
        """True while this worker holds the lock; tries to take it when free."""
        try:
            if self.connection is None or self.connection.is_closed():
                self.leading = False
                self.connection = await asyncpg.connect(self.url)
            if self.leading:
                await self.connection.fetchval("SELECT 1")  # the lock is as alive as its session
            else:
                self.leading = await self.connection.fetchval(
                    "SELECT pg_try_advisory_lock($1)", LEDGER_LEADER_LOCK
                )
                if self.leading:
                    log.info("ledger_leadership_taken")
        except (asyncpg.PostgresError, *TRANSIENT_ERRORS) as error:
            log.warning("ledger_leadership_lost", error=str(error))
            if self.connection is not None:
                self.connection.terminate()  # never keep a half-alive session that might still hold the lock
            self.leading, self.connection = False, None
        return self.leading

    async def close(self) -> None:
        if self.connection is not None and not self.connection.is_closed():
            await self.connection.close()  # closing the session releases the lock
