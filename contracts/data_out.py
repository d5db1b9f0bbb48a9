"""The `data` of each event out (contract section 4)."""

from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from contracts.base import WireModel
from contracts.enums import RefundMethod, Resolution, Route
from contracts.limits import REJECTION_MESSAGE_CHARS_MAX, REJECTION_ORIGINAL_BYTES_MAX
from contracts.types import (
    Account,
    Code,
    Currency,
    EventId,
    Identifier,
    Money,
    OpaqueRef,
    Percent,
    Timestamp,
)

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
                "balanced",
                "debits must equal credits per currency (unbalanced: {currencies})",
                {"currencies": ", ".join(unbalanced)},
            )
        return lines


class EventRejected(WireModel):
    rejected_event_id: EventId | None
    topic: str = Field(min_length=1, max_length=TOPIC_LENGTH_MAX)
    partition: Count
    offset: Count
    reason: Code
    message: str = Field(max_length=REJECTION_MESSAGE_CHARS_MAX)
    # The raw value (base64 if it is not UTF-8), cut to its first REJECTION_ORIGINAL_BYTES_MAX bytes.
    original: str = Field(max_length=REJECTION_ORIGINAL_BYTES_MAX)
    original_bytes: Count | None = None  # the length of the whole original value
    original_sha256: str | None = Field(default=None, pattern="^[0-9a-f]{64}$")  # of the whole original value
    original_truncated: bool = False  # `original` is a prefix of the value


class DiscrepancyOpened(WireModel):
    discrepancy_id: Identifier
    kind: Code
    subject: Identifier
    details: dict[str, Any]
    caused_by: EventId


class DiscrepancyResolvedOut(WireModel):
    """Contract 8.1: a discrepancy finance resolved, on takeback.discrepancies."""

    discrepancy_id: Identifier
    kind: Code
    resolution: Resolution
    caused_by: EventId


class BatteryRouted(WireModel):
    """Contract 8.3: where a collected battery goes next, one per applied collection, on takeback.routing."""

    serial: Identifier
    route: Route
    state_of_health_pct: Percent | None
    caused_by: EventId  # the collection's event_id


class ReconciliationCheck(WireModel):
    """One invariant of the ledger against the scheme: whether it holds, what was expected and found, why."""

    name: Code
    ok: bool
    expected: Any  # any JSON value, e.g. amounts per currency {"EUR": 5000}
    actual: Any
    details: Any  # the ledger writes an object (offenders, amounts in flight, ...)


class ReconciliationCompleted(WireModel):
    """One reconciliation run of the ledger (contract section 6), `run_id` being the event's `event_id`."""

    run_id: EventId
    status: Literal["balanced", "discrepancies"]
    as_of: Timestamp
    checks: list[ReconciliationCheck]
    open_discrepancies: list[dict[str, Any]]  # the newest ones; open_discrepancies_by_kind counts them all
    open_discrepancies_by_kind: dict[str, Count] | None = None

    @model_validator(mode="after")
    def _status_of_checks(self) -> "ReconciliationCompleted":
        expected = "balanced" if all(check.ok for check in self.checks) else "discrepancies"
        if self.status != expected:
            raise PydanticCustomError(
                "status_of_checks",
                "status must be {expected}: balanced exactly when every check is ok",
                {"expected": expected},
            )
        return self
