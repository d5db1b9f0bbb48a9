"""The journal read for settlement statements: one grouped pass over `ledger.entries`, lines unnested.

Every entry that occurred before the period's end is read once (its opening part
cannot be known without the entries before the start); each line on a
counterparty account is summed into its account's opening, charges or payments
by the entry's `effective_at` and by whether the entry also moves `bank:scheme`.
Accounts with no line in the period and a zero opening are left out. The sums are numeric, read as
integers (`minor_units`): each line fits a bigint, an account's total need not.
"""

from __future__ import annotations

import asyncpg

from contracts.accounts import sql_like
from contracts.queries import Period
from services.common.money import minor_units
from services.ledger.domain.settlement import COUNTERPARTY_ACCOUNT_PREFIXES, PAYMENT_ACCOUNT, AccountMovements

STATEMENT_SQL = """
    SELECT l.account, l.currency,
           coalesce(sum(l.debit - l.credit) FILTER (WHERE e.effective_at < $1), 0) AS opening,
           coalesce(sum(l.debit - l.credit) FILTER (WHERE e.effective_at >= $1 AND NOT e.moves_bank), 0)
               AS charges,
           coalesce(sum(l.debit - l.credit) FILTER (WHERE e.effective_at >= $1 AND e.moves_bank), 0)
               AS payments
      FROM (SELECT effective_at, accounts, currencies, debits, credits,
                   $3::text = ANY (accounts) AS moves_bank
              FROM ledger.entries WHERE effective_at < $2) AS e
     CROSS JOIN LATERAL unnest(e.accounts, e.currencies, e.debits, e.credits)
           AS l(account, currency, debit, credit)
     WHERE l.account LIKE ANY ($4::text[])
     GROUP BY l.account, l.currency
    HAVING count(*) FILTER (WHERE e.effective_at >= $1) > 0
        OR coalesce(sum(l.debit - l.credit) FILTER (WHERE e.effective_at < $1), 0) <> 0"""

_PATTERNS = [sql_like(prefix) for prefix in COUNTERPARTY_ACCOUNT_PREFIXES]


async def account_movements(connection: asyncpg.Connection, period: Period) -> list[AccountMovements]:
    rows = await connection.fetch(STATEMENT_SQL, period.start, period.end, PAYMENT_ACCOUNT, _PATTERNS)
    return [
        AccountMovements(
            row["account"],
            row["currency"],
            minor_units(row["opening"]),
            minor_units(row["charges"]),
            minor_units(row["payments"]),
        )
        for row in rows
    ]
