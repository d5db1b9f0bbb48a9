"""The scheme's rows as typed records: one frozen dataclass a table, its fields the table's columns in order.

A batch's rows go in as one parameter a table: the rows as one JSON array
(encoded in native code, dataclasses as they are), which PostgreSQL reads back
into the table's own row type by column name; no array parameter is built and
checked element by element in Python. Every table's write is one part of a
single statement (`services/common/one_statement.py`): one round trip a batch.
The releases' rows go in by binary COPY (`record_of` reads a row's values in
column order in one native call).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson


@dataclass(frozen=True, slots=True)
class BatteryRow:
    serial: str
    state: str
    contract: str | None
    sku: str | None
    category: str | None
    chemistry: str | None
    mass_kg: Decimal | None
    currency: str | None
    deposit_charged: int
    recycling_fee: int
    deposit_refunded: int
    sale_id: str | None
    store_id: str | None
    sold_at: datetime | None
    custodian_kind: str
    custodian_id: str
    lot_id: str | None
    collected_at: datetime | None
    history_length: int
    deposit_released: bool


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One line of a battery's custody history: what makes it traceable from sale to refund."""

    serial: str
    seq: int
    at: datetime
    event_id: UUID
    event_type: str
    from_kind: str | None
    from_id: str | None
    to_kind: str
    to_id: str
    state: str


@dataclass(frozen=True, slots=True)
class SaleRow:
    sale_id: str
    store_id: str
    currency: str
    occurred_at: datetime
    event_id: UUID
    country: str | None = None  # contract 8.3 (revision 0022)


@dataclass(frozen=True, slots=True)
class SaleItemRow:
    sale_id: str
    serial: str
    sku: str
    category: str
    chemistry: str
    mass_kg: Decimal
    deposit: int
    recycling_fee: int
    contract: str
    status: str


@dataclass(frozen=True, slots=True)
class LotRow:
    lot_id: str
    centre_id: str
    recycler_id: str
    status: str
    dispatched_mass_kg: Decimal
    received_mass_kg: Decimal | None
    dispatched_at: datetime
    received_at: datetime | None


@dataclass(frozen=True, slots=True)
class LotItemRow:
    lot_id: str
    serial: str
    dispatched: bool
    received: bool


@dataclass(frozen=True, slots=True)
class TermsRow:
    sku: str
    currency: str
    effective_from: datetime
    deposit: int
    recycling_fee: int
    event_id: UUID
    handling_fee: int
    reuse_min_pct: int  # contract 8.3 (revision 0022)
    repurpose_min_pct: int


@dataclass(frozen=True, slots=True)
class CollectionRow:
    event_id: UUID
    collection_id: str
    serial: str
    centre_id: str
    condition: str
    mass_kg: Decimal | None
    outcome: str
    occurred_at: datetime
    refund_method: str | None = None  # as the event asked (revision 0018): a late sale refunds with it
    payee_ref: str | None = None
    handling_fee: int = 0  # contract 8.1: what the centre earned for it (revision 0017), from these terms
    handling_fee_currency: str | None = None
    terms_effective_from: datetime | None = None
    state_of_health_pct: int | None = None  # contract 8.3 (revision 0022): as the centre graded it
    country: str | None = None
    route: str | None = None  # the battery.routed emitted for this collection


@dataclass(frozen=True, slots=True)
class RepurposingRow:
    """A `battery.repurposed` applied (contract 8.3, revision 0022): written once, never changed."""

    serial: str
    operator_id: str
    application: str
    event_id: UUID
    repurposed_at: datetime


@dataclass(frozen=True, slots=True)
class LateSaleRow:
    """An orphan's collection settled by a sale that occurred before it, arrived after it (contract 8.2)."""

    collection_event_id: UUID
    serial: str
    sale_id: str
    sale_event_id: UUID
    outcome: str  # refunded | lease_closed
    occurred_at: datetime  # the sale's
    handling_fee: int = 0  # what the settled collection earned (contract 8.1, revision 0021)
    handling_fee_currency: str | None = None
    terms_effective_from: datetime | None = None


@dataclass(frozen=True, slots=True)
class RefundRow:
    refund_id: UUID
    serial: str
    centre_id: str
    amount: int
    currency: str
    method: str
    payee_ref: str | None
    caused_by: UUID
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class RecoveryRow:
    lot_id: str
    recycler_id: str
    input_mass_kg: Decimal
    cost: int
    currency: str
    event_id: UUID
    occurred_at: datetime
    output_mass_kg: Decimal | None = None  # contract 8.3 (revision 0022)


@dataclass(frozen=True, slots=True)
class RecoveredMaterialRow:
    lot_id: str
    material: str
    mass_kg: Decimal


@dataclass(frozen=True, slots=True)
class DiscrepancyRow:
    discrepancy_id: UUID
    kind: str
    subject: str
    details: dict[str, Any]
    caused_by: UUID


@dataclass(frozen=True, slots=True)
class ResolutionRow:
    """Finance's resolution of a discrepancy (contract 8.1): written once, never an edit of it."""

    discrepancy_id: UUID
    resolution: str
    note: str | None
    event_id: UUID
    resolved_at: datetime


@dataclass(frozen=True, slots=True)
class ReleaseRow:
    """A `deposits.released` applied: its id is used once (contract 8.1)."""

    release_id: str
    event_id: UUID
    currency: str
    sold_before: datetime
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ReleasedDepositRow:
    """One battery's deposit a release moved to the reserve: posted in the entry of the release's `part`
    (`streams.domain.postings.release_key`: `release:<id>` for part 1; revision 0024)."""

    release_id: str
    serial: str
    amount: int
    currency: str
    part: int


@dataclass(frozen=True, slots=True)
class PostingRow:
    posting_key: str
    kind: str
    subject: str
    caused_by: UUID
    effective_at: datetime
    lines: tuple[Any, ...]  # `streams.domain.postings.Line`s: {account, currency, debit, credit} each


@dataclass(frozen=True, slots=True)
class PaymentRow:
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


@dataclass(frozen=True, slots=True)
class CounterpartyMovementRow:
    """One batch's debit - credit on one counterparty account (revision 0019)."""

    account: str
    currency: str
    amount: int


@dataclass(frozen=True, slots=True)
class InboxRow:
    """An event in and its outcome, written in the transaction of its effects."""

    event_id: UUID
    content_hash: bytes
    event_type: str
    topic: str
    partition: int
    offset: int
    occurred_at: datetime | None
    outcome: str
    reason: str | None
    source_kind: str | None  # the event's `source` (revision 0026); None when it could not be read
    source_id: str | None


@dataclass(frozen=True, slots=True)
class OffsetRangeRow:
    topic: str
    partition: int
    first_offset: int
    last_offset: int


@functools.cache
def columns(row_type: type) -> tuple[str, ...]:
    return tuple(field.name for field in fields(row_type))


@functools.cache
def record_of(row_type: type) -> Callable[[Any], tuple]:
    """The row's values as a tuple in column order (for COPY), by one native call."""
    return operator.attrgetter(*columns(row_type))


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)  # exact: numeric reads the text
    if isinstance(value, bytes):
        return "\\x" + value.hex()  # bytea's hex input
    if isinstance(value, UUID):
        return str(value)  # the driver's own UUID type, read back from the database
    raise TypeError(f"no JSON form for {type(value).__name__}")


def as_json(rows: list) -> str:
    """The rows as one JSON array of objects keyed by column (datetimes with their offset, UUIDs as text)."""
    return orjson.dumps(rows, default=_json_default).decode()
