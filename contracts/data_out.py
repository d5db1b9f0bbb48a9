"""The `data` of each event out (contract section 4)."""

from collections import Counter
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from contracts.base import WireModel
from contracts.enums import RefundMethod
from contracts.types import Account, Code, Currency, EventId, Identifier, Money, OpaqueRef

ENTRY_LINES_MAX = 1000
TOPIC_LENGTH_MAX = 249  # Kafka's own limit

Count = Annotated[int, Field(ge=0, strict=True)]


class RefundInstructed(WireModel):
    refund_id: Identifier
    serial: Identifier
    centre_id: Identifier
    amount: Money
    currency: Currency
    method: RefundMethod
    payee_ref: OpaqueRef | None = None
    caused_by: EventId


class EntryLine(WireModel):
    account: Account
    debit: Money
    credit: Money
    currency: Currency

    @model_validator(mode="after")
    def _one_sided(self) -> "EntryLine":
        if (self.debit > 0) == (self.credit > 0):
            raise PydanticCustomError("one_sided", "exactly one of debit and credit must be > 0")
        return self


class EntryPosted(WireModel):
    entry_id: Identifier
    kind: Code
    caused_by: EventId
    lines: list[EntryLine] = Field(min_length=2, max_length=ENTRY_LINES_MAX)

    @field_validator("lines")
    @classmethod
    def _balanced(cls, lines: list[EntryLine]) -> list[EntryLine]:
        net: Counter[str] = Counter()
        for line in lines:
            net[line.currency] += line.debit - line.credit
        unbalanced = sorted(currency for currency, amount in net.items() if amount != 0)
        if unbalanced:
            raise PydanticCustomError(
                "balanced", "debits must equal credits per currency (unbalanced: {currencies})",
                {"currencies": ", ".join(unbalanced)},
            )
        return lines


class EventRejected(WireModel):
    rejected_event_id: EventId | None
    topic: str = Field(min_length=1, max_length=TOPIC_LENGTH_MAX)
    partition: Count
    offset: Count
    reason: Code
    message: str
    original: str  # the raw value, base64 if it is not UTF-8


class DiscrepancyOpened(WireModel):
    discrepancy_id: Identifier
    kind: Code
    subject: Identifier
    details: dict[str, Any]
    caused_by: EventId

