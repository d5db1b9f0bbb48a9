"""The ledger's account names (contract sections 5 and 8.1): the one place they are spelled.

The stream workers name the accounts of the postings they ask for, the ledger reads
its balances, statements and checks by them; both take the names from here, and so do
the gateway's, the command line's and the chaos run's texts (`tests/unit/test_accounts.py`
finds any other spelling in `streams/` or `services/`).

    clearing:store:{store_id}       what a store owes the scheme
    suspense:store:{store_id}       money a store collected that could not enter the market
    clearing:centre:{centre_id}     what the scheme owes a centre
    payable:recycler:{recycler_id}  recycling cost owed to the recycler
    liability:deposits              deposits owed back to customers
    fund:recycling                  the reserved recycling fund
    bank:scheme                     the scheme's bank account (8.1)
    reserve:unclaimed_deposits      deposits released after finance's unclaimed window (8.1)
"""

from __future__ import annotations

from typing import Literal

LIABILITY = "liability:deposits"
FUND = "fund:recycling"
BANK = "bank:scheme"
RESERVE = "reserve:unclaimed_deposits"

# A counterparty's account is its prefix followed by the counterparty's id.
STORE_CLEARING = "clearing:store:"
STORE_SUSPENSE = "suspense:store:"
CENTRE_CLEARING = "clearing:centre:"
RECYCLER_PAYABLE = "payable:recycler:"

SCHEME_ACCOUNTS = (LIABILITY, FUND, BANK, RESERVE)
COUNTERPARTY_PREFIXES = (STORE_CLEARING, STORE_SUSPENSE, CENTRE_CLEARING, RECYCLER_PAYABLE)

CounterpartyKind = Literal["store", "centre", "recycler"]
# The account a payment settles (contract 8.1), per kind of counterparty.
SETTLED_BY_PAYMENT: dict[str, str] = {
    "store": STORE_CLEARING,
    "centre": CENTRE_CLEARING,
    "recycler": RECYCLER_PAYABLE,
}


def store_clearing(store_id: str) -> str:
    return STORE_CLEARING + store_id


def store_suspense(store_id: str) -> str:
    return STORE_SUSPENSE + store_id


def centre_clearing(centre_id: str) -> str:
    return CENTRE_CLEARING + centre_id


def recycler_payable(recycler_id: str) -> str:
    return RECYCLER_PAYABLE + recycler_id


def payment_account(kind: str, counterparty_id: str) -> str:
    """The account a payment to or from this counterparty settles."""
    return SETTLED_BY_PAYMENT[kind] + counterparty_id


def sql_like(prefix: str) -> str:
    """The LIKE pattern of every account under a counterparty prefix (no prefix holds `%` or `_`)."""
    assert "%" not in prefix and "_" not in prefix, "a prefix with a LIKE wildcard"
    return prefix + "%"
