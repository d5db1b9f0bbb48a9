"""Internal wire schema: the postings the scheme asks the ledger to make.

Travels on `takeback.internal.postings` in one of two shapes:

- one `PostingRequested`, key = its `posting_key`;
- a `PostingBatch` (`{"postings": [...]}`, at most `POSTINGS_PER_MESSAGE_MAX`),
  key = the batch's id. The stream workers send these: one message for the
  postings of one applied batch of events instead of one message each, which
  removes an outbox row, a produce and a consume per posting.

Posting keys are deterministic (derived from the cause), so the same posting
asked twice, alone or in any batch, is posted once. Lines follow contract
section 5.

A journal line is one type, `Line`, wherever it is built or read: the stream
workers build their postings of it, the ledger reads an entry's lines as it.
The models check it where it crosses the wire: `PostingLine` in a posting
request, `contracts.data_out.EntryLine` in `entry.posted`; the same four fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.types import MONEY_MINOR_UNITS_MAX

PostingKind = Literal[
    "sale",
    "sale_lease",
    "sale_suspense",
    "cancellation",
    "refund",
    "recovery",
    "payment_store",
    "payment_centre",
    "payment_recycler",
    "handling_fee",
    "deposit_release",
    "release_cancelled",
    "suspense_return",
]
POSTING_KINDS: tuple[str, ...] = get_args(PostingKind)
POSTING_NAMESPACE = uuid.UUID("6f1d9a57-2a52-4c43-9d8e-1c6a3e0b7d21")
POSTINGS_PER_MESSAGE_MAX = 250  # a message of at most about 100 kB


@dataclass(frozen=True, slots=True)
class Line:
    """One journal line: a debit or a credit of one account, in minor units of one currency.

    A plain frozen object (a batch of sales makes tens of thousands): built from amounts already checked, it
    is checked where it becomes an entry (the ledger, once, then the database), or by the models on the wire.
    """

    account: str
    currency: str
    debit: int
    credit: int

    def as_dict(self) -> dict[str, str | int]:
        """The posting request's line (`PostingLine`), in its field order."""
        return {
            "account": self.account,
            "currency": self.currency,
            "debit": self.debit,
            "credit": self.credit,
        }

    def reversed(self) -> Line:
        """The same amount on the other side."""
        return Line(self.account, self.currency, self.credit, self.debit)


class PostingLine(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    account: str = Field(min_length=1, max_length=200)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    debit: int = Field(ge=0, le=MONEY_MINOR_UNITS_MAX)  # one line: a bigint (the journal's column)
    credit: int = Field(ge=0, le=MONEY_MINOR_UNITS_MAX)

    @model_validator(mode="after")
    def _one_side(self) -> PostingLine:
        if (self.debit == 0) == (self.credit == 0):
            raise ValueError("a line is either a debit or a credit, and not zero")
        return self


class PostingRequested(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    posting_key: str = Field(min_length=1, max_length=300)
    kind: PostingKind
    subject: str = Field(min_length=1, max_length=64)  # serial, or lot id for a recovery
    caused_by: uuid.UUID = Field(strict=False)
    effective_at: datetime = Field(strict=False)
    reverses: str | None = None  # posting_key of the entry this one reverses
    lines: list[PostingLine] = Field(min_length=2, max_length=16)

    @model_validator(mode="after")
    def _balanced(self) -> PostingRequested:
        unbalanced = unbalanced_currencies(self.lines)
        if unbalanced:
            raise ValueError(f"debits must equal credits per currency; off in {', '.join(unbalanced)}")
        return self

    @property
    def entry_id(self) -> uuid.UUID:
        return entry_id_for(self.posting_key)


class PostingBatch(BaseModel):
    """Several postings in one message; each is posted (or refused) on its own."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    postings: list[PostingRequested] = Field(min_length=1, max_length=POSTINGS_PER_MESSAGE_MAX)


class Amounts(Protocol):
    """What balancing reads of a line: a `Line` or a posting request's `PostingLine`."""

    @property
    def currency(self) -> str: ...

    @property
    def debit(self) -> int: ...

    @property
    def credit(self) -> int: ...


def unbalanced_currencies(lines: Iterable[Amounts]) -> list[str]:
    """The currencies in which debits and credits differ: none for a posting that balances."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.currency] = totals.get(line.currency, 0) + line.debit - line.credit
    return sorted(currency for currency, total in totals.items() if total != 0)


def entry_id_for(posting_key: str) -> uuid.UUID:
    return uuid.uuid5(POSTING_NAMESPACE, f"entry:{posting_key}")
