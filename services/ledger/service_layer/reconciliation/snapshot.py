"""What every check reads once: ledger balances, and the postings the scheme asked for that are not posted.

A scheme posting with no ledger entry is either *in flight* (still on Kafka;
its amounts are added to the ledger's side of every money check) or *missing*:
the ledger's outbox holds its `entry.posted` event, written in the same
transaction as the entry, so the entry was posted and has since been removed.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.ledger.domain.journal import posted_event_id_for

Amounts = dict[tuple[str, str], tuple[int, int]]  # (account, currency) -> (debit, credit)


@dataclass(frozen=True)
class Snapshot:
    as_of: datetime
    ledger: Amounts
    in_flight: Amounts
    in_flight_postings: list[dict]  # newest first: posting_key, kind, subject, created_at
    missing_postings: list[dict]  # newest first: posting_key, kind, subject

    def credit_net(self, account: str, in_flight: bool = False) -> dict[str, int]:
        """credit - debit per currency of one account, in the ledger or in flight."""
        amounts = self.in_flight if in_flight else self.ledger
        net: Counter[str] = Counter()
        for (name, currency), (debit, credit) in amounts.items():
            if name == account:
                net[currency] += credit - debit
        return dict(net)

    def credit_net_by_party(self, prefix: str, in_flight: bool = False) -> dict[tuple[str, str], int]:
        """credit - debit per (party id, currency) of the accounts `prefix{id}`."""
        amounts = self.in_flight if in_flight else self.ledger
        net: Counter[tuple[str, str]] = Counter()
        for (name, currency), (debit, credit) in amounts.items():
            if name.startswith(prefix):
                net[(name[len(prefix):], currency)] += credit - debit
        return dict(net)


async def take_snapshot(connection: asyncpg.Connection) -> Snapshot:
    as_of = await connection.fetchval("SELECT now()")
    ledger = await _amounts(connection, """
        SELECT account, currency, sum(debit)::bigint AS debit, sum(credit)::bigint AS credit
          FROM ledger.account_movements GROUP BY account, currency""")
    unposted = [dict(row) for row in await connection.fetch("""
        SELECT p.posting_key, p.kind, p.subject, p.created_at FROM scheme.postings p
         WHERE NOT EXISTS (SELECT 1 FROM ledger.entries e WHERE e.posting_key = p.posting_key)
         ORDER BY p.created_at DESC""")]
    announced = {row["event_id"] for row in await connection.fetch(
        "SELECT event_id FROM ledger.outbox WHERE event_id = ANY($1::uuid[])",
        [posted_event_id_for(p["posting_key"]) for p in unposted])}
    missing = [p for p in unposted if posted_event_id_for(p["posting_key"]) in announced]
    in_flight = [p for p in unposted if posted_event_id_for(p["posting_key"]) not in announced]
    in_flight_amounts = await _amounts(connection, """
        SELECT l->>'account' AS account, l->>'currency' AS currency,
               sum((l->>'debit')::bigint)::bigint AS debit, sum((l->>'credit')::bigint)::bigint AS credit
          FROM scheme.postings p CROSS JOIN LATERAL jsonb_array_elements(p.lines) AS l
         WHERE p.posting_key = ANY($1::text[]) GROUP BY 1, 2""", [p["posting_key"] for p in in_flight])
    return Snapshot(as_of, ledger, in_flight_amounts, in_flight, missing)


async def _amounts(connection: asyncpg.Connection, sql: str, *args) -> Amounts:
    rows = await connection.fetch(sql, *args)
    return {(row["account"], row["currency"]): (row["debit"], row["credit"]) for row in rows}
