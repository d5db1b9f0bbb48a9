"""Settlement statements (contract 8.1): each counterparty's balance with the scheme over a period.

Counterparties and the accounts their balance is read from:

    store X      clearing:store:X + suspense:store:X
    centre X     clearing:centre:X
    recycler X   payable:recycler:X

A balance is debit - credit of those accounts, in minor units of one currency:
positive is owed to the scheme, negative is owed by it. A store's suspense is
part of its balance: a sale held in suspense charges its clearing and credits
its suspense by the same amount (nothing net is owed for a battery that never
entered the market), and returning the suspense to the store moves it back; the
row also shows `in_suspense`, the suspense part of the closing balance.

Over the period [start, end) of the entries' `effective_at` (the causing
event's `occurred_at`):

    opening   the balance of every entry before start
    payments  the movements of entries that also move bank:scheme (payment.recorded)
    charges   every other movement in the period (sales, cancellations, refunds,
              handling fees, recycling costs, suspense returned)
    closing   opening + charges + payments

each signed as its effect on the balance: a store's payment is negative (it owes
less), a payout to a centre or the recycler positive (the scheme owes less).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts import accounts

PAYMENT_ACCOUNT = accounts.BANK
COUNTERPARTY_ACCOUNT_PREFIXES = {  # account prefix -> (counterparty kind, part of its balance)
    accounts.STORE_CLEARING: ("store", "clearing"),
    accounts.STORE_SUSPENSE: ("store", "suspense"),
    accounts.CENTRE_CLEARING: ("centre", "clearing"),
    accounts.RECYCLER_PAYABLE: ("recycler", "clearing"),
}
KIND_ORDER = ("store", "centre", "recycler")


def counterparty_of(account: str) -> tuple[str, str, str] | None:
    """(kind, id, part) of a counterparty account; None for the scheme's own accounts."""
    for prefix, (kind, part) in COUNTERPARTY_ACCOUNT_PREFIXES.items():
        if account.startswith(prefix) and len(account) > len(prefix):
            return kind, account[len(prefix) :], part
    return None


@dataclass(frozen=True)
class AccountMovements:
    """One account's figures over a period, as the journal query groups them."""

    account: str
    currency: str
    opening: int
    charges: int
    payments: int


def statements(movements: list[AccountMovements]) -> list[dict[str, Any]]:
    """One row per counterparty and currency, in the order store, centre, recycler, then id and currency."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for movement in movements:
        party = counterparty_of(movement.account)
        assert party is not None, f"{movement.account} is not a counterparty account"
        kind, party_id, part = party
        row = rows.setdefault(
            (kind, party_id, movement.currency),
            {
                "counterparty": {"kind": kind, "id": party_id},
                "currency": movement.currency,
                "opening": 0,
                "charges": 0,
                "payments": 0,
                "closing": 0,
                "in_suspense": 0,
            },
        )
        closing = movement.opening + movement.charges + movement.payments
        row["opening"] += movement.opening
        row["charges"] += movement.charges
        row["payments"] += movement.payments
        row["closing"] += closing
        if part == "suspense":
            row["in_suspense"] += closing
    for row in rows.values():
        assert row["closing"] == row["opening"] + row["charges"] + row["payments"], "closing adds up"
    return [rows[key] for key in sorted(rows, key=lambda k: (KIND_ORDER.index(k[0]), k[1], k[2]))]
