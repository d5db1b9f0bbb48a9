"""What balances read: `ledger.account_movements`, one row per account and currency per posted batch.

A batch stamps its entries, lines and movements with the same `posted_at` (its
transaction's time), so the movements up to an instant are exactly the lines up
to that instant.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

BALANCES_SQL = """
    SELECT account, currency, sum(debit)::bigint AS debit, sum(credit)::bigint AS credit
      FROM ledger.account_movements
     WHERE posted_at <= $1
     GROUP BY account, currency
     ORDER BY account, currency"""
NET_CREDIT_SQL = """
    SELECT currency, (sum(credit) - sum(debit))::bigint AS balance
      FROM ledger.account_movements WHERE account = $1 GROUP BY currency"""


async def balances_at(connection: asyncpg.Connection, instant: datetime) -> list[asyncpg.Record]:
    """Debit and credit totals of every account and currency up to `instant`, by account then currency."""
    return await connection.fetch(BALANCES_SQL, instant)


async def net_credit(connection: asyncpg.Connection, account: str) -> dict[str, int]:
    """credit - debit of one account, per currency."""
    return {row["currency"]: row["balance"] for row in await connection.fetch(NET_CREDIT_SQL, account)}
