"""Settlement statements for a period (contract 8.1): `GET /v1/finance/settlement` and
`takeback report settlement`.

The rules (which accounts, which sign, what is a payment) are in
`services.ledger.domain.settlement`; the journal read in `adapters.statements`.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from contracts.queries import Period
from services.ledger.adapters.clock import now
from services.ledger.adapters.statements import account_movements
from services.ledger.domain.settlement import statements


async def settlement(pool: asyncpg.Pool, period: Period) -> dict[str, Any]:
    """`{"from", "to", "as_of", "statements": [{"counterparty": {"kind", "id"}, "currency", "opening",
    "charges", "payments", "closing", "in_suspense"}]}`, read in one snapshot of the journal."""
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        as_of = await now(connection)
        movements = await account_movements(connection, period)
    return {
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "as_of": as_of.isoformat(),
        "statements": statements(movements),
    }
