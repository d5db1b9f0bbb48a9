"""The model of what the scheme must do with the events a chaos run sends (contract sections 3 and 5).

Pure values: what outcome each event must end with, which journal entries and
refunds it must cause, and the balances of the run's own accounts that follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.accounts import (
    FUND,
    LIABILITY,
    centre_clearing,
    recycler_payable,
    store_clearing,
    store_suspense,
)

APPLIED = ("applied", None)


def rejected(reason: str) -> tuple[str, str]:
    return ("rejected", reason)


@dataclass(frozen=True)
class Line:
    account: str
    debit: int
    credit: int


@dataclass(frozen=True)
class ExpectedEntry:
    """One journal entry the contract calls for, named by the event that causes it and its subject."""

    caused_by: str
    subject: str
    lines: tuple[Line, ...]

    def __post_init__(self):
        assert sum(line.debit for line in self.lines) == sum(line.credit for line in self.lines), (
            "an entry balances"
        )


def _entry(
    caused_by: str, subject: str, debits: list[tuple[str, int]], credits: list[tuple[str, int]]
) -> ExpectedEntry | None:
    lines = tuple([Line(a, d, 0) for a, d in debits if d] + [Line(a, 0, c) for a, c in credits if c])
    return ExpectedEntry(caused_by, subject, lines) if len(lines) >= 2 else None


@dataclass(frozen=True)
class SoldItem:
    """What a sale charged for one battery, and where the money went."""

    sale_id: str
    store: str
    serial: str
    contract: str
    deposit: int
    fee: int
    suspense: bool = False

    def sale_entry(self, caused_by: str) -> ExpectedEntry | None:
        """Section 5: store clearing debits deposit + fee; liability, fund or suspense are credited."""
        debit = [(store_clearing(self.store), self.deposit + self.fee)]
        if self.suspense:
            return _entry(
                caused_by, self.serial, debit, [(store_suspense(self.store), self.deposit + self.fee)]
            )
        return _entry(
            caused_by,
            self.serial,
            debit,
            [(LIABILITY, self.deposit), (FUND, self.fee)],
        )

    def cancellation_entry(self, caused_by: str) -> ExpectedEntry | None:
        """The exact reverse of the item's sale entry."""
        original = self.sale_entry(caused_by)
        if original is None:
            return None
        return ExpectedEntry(
            caused_by,
            self.serial,
            tuple(Line(line.account, line.credit, line.debit) for line in original.lines),
        )


def refund_entry(caused_by: str, serial: str, centre: str, deposit: int) -> ExpectedEntry | None:
    return _entry(caused_by, serial, [(LIABILITY, deposit)], [(centre_clearing(centre), deposit)])


def recovery_entry(caused_by: str, lot_id: str, recycler: str, cost: int) -> ExpectedEntry | None:
    return _entry(caused_by, lot_id, [(FUND, cost)], [(recycler_payable(recycler), cost)])


def balances(entries, accounts: set[str]) -> dict[str, tuple[int, int]]:
    """(debit, credit) of each of `accounts` after `entries`; an account no entry touches is (0, 0)."""
    out = {account: (0, 0) for account in accounts}
    for entry in entries:
        for line in entry.lines:
            if line.account in out:
                debit, credit = out[line.account]
                out[line.account] = (debit + line.debit, credit + line.credit)
    return out


@dataclass(frozen=True)
class BatteryModel:
    serial: str
    item: SoldItem | None  # None for a battery never sold here
    state: str
    mass_kg: float
    centre: str | None = None


@dataclass(frozen=True)
class LotModel:
    lot_id: str
    centre: str
    serials: tuple[str, ...]
    mass_kg: float
    dispatch: dict  # the lot.dispatched data (sent again, under a new id, as a duplicate lot)
    received: tuple[str, ...] = ()
