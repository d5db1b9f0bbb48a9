"""Balances of every account, per currency, now or as of any past instant.

Derived, never stored in one row: the sum of `ledger.account_movements`, one row
per account and currency per posted batch. A batch stamps its entries, lines and
movements with the same `posted_at` (its transaction's time), so the movements
up to an instant are exactly the lines up to that instant: the as-of balance is
exact, and reads as many rows as batches touched the account, not as lines.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.ledger.adapters.balance_figures import balances_at
from services.ledger.adapters.clock import now


async def balances(pool: asyncpg.Pool, as_of: datetime | None = None) -> dict[str, Any]:
    """Contract section 6: `{"as_of", "balances": [{"account", "currency", "debit", "credit"}]}`."""
    assert as_of is None or as_of.utcoffset() is not None, "as_of must be timezone-aware"
    async with pool.acquire() as connection:
        return await balances_on(connection, as_of)


async def balances_on(connection: asyncpg.Connection, as_of: datetime | None = None) -> dict[str, Any]:
    instant = as_of or await now(connection)
    rows = await balances_at(connection, instant)
    return {
        "as_of": instant.isoformat(),
        "balances": [
            {
                "account": row["account"],
                "currency": row["currency"],
                "debit": row["debit"],
                "credit": row["credit"],
            }
            for row in rows
        ],
    }


def net_credit(body: dict[str, Any], account: str) -> dict[str, int]:
    """credit - debit of one account per currency, from a balances body."""
    return {
        row["currency"]: row["credit"] - row["debit"] for row in body["balances"] if row["account"] == account
    }
