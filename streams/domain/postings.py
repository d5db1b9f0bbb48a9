"""Journal postings the scheme's events call for (contract section 5).

Built from amounts the contract models already validated, as plain frozen
objects: a batch of sales builds tens of thousands of them, and pydantic
models (even unvalidated) cost five times as much. `Posting.to_json` writes
the wire form of `contracts.postings.PostingRequested`, which the ledger
validates when it reads it (and `tests/unit/test_streams_domain.py` too).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import orjson

from contracts.postings import unbalanced_currencies


@dataclass(frozen=True, slots=True)
class Line:
    account: str
    currency: str
    debit: int
    credit: int

    def as_dict(self) -> dict:
        return {"account": self.account, "currency": self.currency, "debit": self.debit, "credit": self.credit}


@dataclass(frozen=True, slots=True)
class Posting:
    posting_key: str
    kind: str
    subject: str
    caused_by: UUID
    effective_at: datetime
    lines: tuple[Line, ...]
    reverses: str | None = None

    def to_json(self) -> bytes:
        """The `PostingRequested` wire form."""
        return orjson.dumps({
            "posting_key": self.posting_key, "kind": self.kind, "subject": self.subject,
            "caused_by": self.caused_by, "effective_at": self.effective_at, "reverses": self.reverses,
            "lines": [line.as_dict() for line in self.lines]})


def _line(account: str, currency: str, debit: int = 0, credit: int = 0) -> Line:
    assert debit >= 0 and credit >= 0, "amounts are never negative"
    assert (debit == 0) != (credit == 0), "a line is a debit or a credit"
    return Line(account, currency, debit, credit)


def _posting(**fields) -> Posting:
    """Balanced by construction (asserted)."""
    assert not unbalanced_currencies(fields["lines"]), "a posting balances per currency"
    assert len(fields["lines"]) >= 2, "a posting has two lines or more"
    return Posting(**fields)


def _lines(debits: list[tuple[str, int]], credits: list[tuple[str, int]], currency: str) -> tuple[Line, ...]:
    """Drop zero amounts (a line is never zero); debits equal credits by construction."""
    assert sum(a for _, a in debits) == sum(a for _, a in credits), "a posting balances"
    return tuple([_line(acc, currency, debit=a) for acc, a in debits if a] +
                 [_line(acc, currency, credit=a) for acc, a in credits if a])


def sale_item(sale_id: str, store_id: str, serial: str, contract: str, deposit: int, fee: int,
              currency: str, caused_by: UUID, at: datetime, suspense: bool) -> Posting | None:
    store = f"clearing:store:{store_id}"
    if suspense:
        kind, key = "sale_suspense", f"suspense:{sale_id}:{serial}"
        credits = [(f"suspense:store:{store_id}", deposit + fee)]
    elif contract == "lease":
        kind, key = "sale_lease", f"sale:{sale_id}:{serial}"
        credits = [("fund:recycling", fee)]
    else:
        kind, key = "sale", f"sale:{sale_id}:{serial}"
        credits = [("liability:deposits", deposit), ("fund:recycling", fee)]
    lines = _lines([(store, deposit + fee)], credits, currency)
    if len(lines) < 2:
        return None  # nothing charged: nothing to post
    return _posting(posting_key=key, kind=kind, subject=serial, caused_by=caused_by,
                            effective_at=at, lines=lines)


def cancellation(original: Posting, caused_by: UUID, at: datetime, sale_id: str) -> Posting:
    """The exact reverse of the item's sale posting."""
    reversed_lines = tuple(_line(l.account, l.currency, debit=l.credit, credit=l.debit) for l in original.lines)
    return _posting(posting_key=f"cancel:{sale_id}:{original.subject}", kind="cancellation",
                            subject=original.subject, caused_by=caused_by, effective_at=at,
                            reverses=original.posting_key, lines=reversed_lines)


def refund(serial: str, centre_id: str, amount: int, currency: str, caused_by: UUID,
           at: datetime) -> Posting | None:
    lines = _lines([("liability:deposits", amount)], [(f"clearing:centre:{centre_id}", amount)], currency)
    if len(lines) < 2:
        return None
    return _posting(posting_key=f"refund:{serial}", kind="refund", subject=serial,
                            caused_by=caused_by, effective_at=at, lines=lines)


def recovery(lot_id: str, recycler_id: str, cost: int, currency: str, caused_by: UUID,
             at: datetime) -> Posting | None:
    lines = _lines([("fund:recycling", cost)], [(f"payable:recycler:{recycler_id}", cost)], currency)
    if len(lines) < 2:
        return None
    return _posting(posting_key=f"recovery:{lot_id}", kind="recovery", subject=lot_id,
                            caused_by=caused_by, effective_at=at, lines=lines)
