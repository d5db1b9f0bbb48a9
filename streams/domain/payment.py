"""Payments between the scheme's bank account and its counterparties (contract 8.1).

A store pays the scheme what it collected; the scheme pays a centre the refunds
and handling fees it paid out or earned, and the recycler its costs. Each
counterparty's account says who owes whom: a store's clearing is debited by what
it owes, a centre's clearing and the recycler's payable are credited by what the
scheme owes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from contracts import accounts
from streams.domain.errors import DuplicatePayment

BANK = accounts.BANK
COUNTERPARTY_PREFIXES = tuple(accounts.SETTLED_BY_PAYMENT.values())


def account_of(kind: str, counterparty_id: str) -> str:
    return accounts.payment_account(kind, counterparty_id)


def is_counterparty_account(account: str) -> bool:
    return account.startswith(COUNTERPARTY_PREFIXES)


def owed(kind: str, debit_net: int) -> int:
    """What the payment settles, from the counterparty account's debit - credit: a store owes its debit
    balance (it pays the scheme); the scheme owes a centre or the recycler their credit balance."""
    return debit_net if kind == "store" else -debit_net


def excess(kind: str, debit_net: int, amount: int) -> int:
    """The part of a payment above what is owed in its currency (nothing owed: all of it)."""
    return max(0, amount - max(0, owed(kind, debit_net)))


@dataclass(frozen=True, slots=True)
class Payment:
    payment_id: str
    event_id: UUID
    counterparty_kind: str
    counterparty_id: str
    amount: int
    currency: str
    value_date: date
    reference: str | None
    excess: int
    occurred_at: datetime

    @staticmethod
    def check_new(payment_id: str, event_id: UUID, recorded_by: UUID | None) -> None:
        """A payment id is used by one event only (the same event again is a duplicate, seen before this)."""
        if recorded_by is not None and recorded_by != event_id:
            raise DuplicatePayment(f"payment_id {payment_id} was already recorded by event {recorded_by}")
