"""What every check reads once: ledger balances, and the postings the scheme asked for that are not posted.

A scheme posting with no ledger entry is either *in flight* (still on Kafka;
its amounts are added to the ledger's side of every money check) or *missing*:
the ledger's outbox holds its `entry.posted` event, written in the same
transaction as the entry, so the entry was posted and has since been removed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from services.ledger.adapters.reconciliation import unposted as figures
from services.ledger.domain.journal import posted_event_id_for
from services.ledger.service_layer.reconciliation.window import carry_keys

Amounts = figures.Amounts  # (account, currency) -> (debit, credit)


@dataclass(frozen=True)
class Snapshot:
    as_of: datetime
    ledger: Amounts
    in_flight: Amounts
    in_flight_postings: list[dict]  # newest first: posting_key, kind, subject, created_at
    missing_postings: list[dict]  # newest first: posting_key, kind, subject
    watermark: str = ""  # pg_snapshot text of the run's transaction: where the next run's window starts
    carry: dict[str, Any] = field(default_factory=dict)  # totals the checks hand to the next run

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
                net[(name[len(prefix) :], currency)] += credit - debit
        return dict(net)


async def instant(connection: asyncpg.Connection) -> tuple[datetime, str]:
    """The run's `as_of` and its watermark: the snapshot of its repeatable-read transaction."""
    return await figures.instant(connection)


async def take_snapshot(connection: asyncpg.Connection) -> Snapshot:
    """The whole journal's balances, and every posting of the scheme not (or no longer) in the ledger."""
    as_of, watermark = await instant(connection)
    ledger = await figures.balances(connection)
    unposted = await figures.unposted(connection)
    txids: dict[str, int | None] = {}
    missing, in_flight, in_flight_amounts = await split_unposted(connection, unposted, txids)
    snapshot = Snapshot(as_of, ledger, in_flight_amounts, in_flight, missing, watermark)
    carry_unposted(snapshot.carry, in_flight, missing, txids)
    return snapshot


def carry_unposted(
    carry: dict[str, Any], in_flight: list[dict], missing: list[dict], txids: dict[str, int | None]
) -> None:
    """Where the next run looks for postings not in the ledger: from the oldest in flight on, and those named.

    Postings in flight are found again from the transaction id of the oldest of them (their txid, indexed), so
    however many are in flight the run carries one number; postings removed from the ledger, and any without a
    txid (asked for before revision 0015), are carried by key.
    """
    carry_keys(
        carry,
        "unposted",
        [p["posting_key"] for p in missing]
        + [p["posting_key"] for p in in_flight if txids.get(p["posting_key"]) is None],
    )
    carry["unposted_from"] = min(
        (txids[p["posting_key"]] for p in in_flight if txids.get(p["posting_key"]) is not None), default=None
    )


async def split_unposted(
    connection: asyncpg.Connection, unposted: list[dict], txids: dict[str, int | None]
) -> tuple[list[dict], list[dict], Amounts]:
    """Postings with no entry: missing (their entry.posted is in the ledger's outbox) or in flight, and its
    amounts.

    Each posting's `txid` (the transaction that asked for it) is kept in `txids` and left out of the rows
    shown.
    """
    txids.update({p["posting_key"]: p.pop("txid") for p in unposted})
    announced = await figures.announced(connection, [posted_event_id_for(p["posting_key"]) for p in unposted])
    missing = [p for p in unposted if posted_event_id_for(p["posting_key"]) in announced]
    in_flight = [p for p in unposted if posted_event_id_for(p["posting_key"]) not in announced]
    in_flight_amounts = await figures.asked_amounts(connection, [p["posting_key"] for p in in_flight])
    return missing, in_flight, in_flight_amounts
