"""What balances read: `ledger.account_movements`, one row per account and currency per posted batch.

A batch stamps its entries, lines and movements with the same `posted_at` (its
transaction's time), so the movements up to an instant are exactly the lines up
to that instant. Their debit and credit are numeric (revision 0024), and so are the sums, read as integers
(`minor_units`): no total overflows.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.common.money import minor_units, rows_in_minor_units

BALANCES_SQL = """
    SELECT account, currency, sum(debit) AS debit, sum(credit) AS credit
      FROM ledger.account_movements
     WHERE posted_at <= $1
     GROUP BY account, currency
     ORDER BY account, currency"""
NET_CREDIT_SQL = """
    SELECT currency, sum(credit) - sum(debit) AS balance
      FROM ledger.account_movements WHERE account = $1 GROUP BY currency"""


async def balances_at(connection: asyncpg.Connection, instant: datetime) -> list[dict]:
    """Debit and credit totals of every account and currency up to `instant`, by account then currency."""
    return rows_in_minor_units(await connection.fetch(BALANCES_SQL, instant), "debit", "credit")


async def net_credit(connection: asyncpg.Connection, account: str) -> dict[str, int]:
    """credit - debit of one account, per currency."""
    rows = await connection.fetch(NET_CREDIT_SQL, account)
    return {row["currency"]: minor_units(row["balance"]) for row in rows}
