"""The events in as native structs: one decoding pass for the valid path (contract sections 2 and 3).

Each struct mirrors its pydantic model in `data_in` / `envelope` rule for rule:
strings by the same patterns, money by the same bounds, closed vocabularies by
the same literals, and the rules that span fields (a lease has no deposit, a
bank transfer names its payee, serials never repeat) in `__post_init__`, which
also turns the wire's text and numbers into what the models give: a `UUID`
event id, an aware `datetime`, `Decimal` masses. The scalar conversions are the
models' own functions (`contracts.types`), so both paths give the same values.

This path only ever accepts: anything it does not accept goes to the models
(`contracts.events.parse_event`), which name the field and the rule. To stay a
strict subset of what the models accept, it leaves to them every value that is
not plain ASCII or holds an escape (`\\`), and every object with a repeated key.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from hashlib import sha256
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_type_hints

import msgspec
import orjson

from contracts.data_in import (
    CANCELLED_SERIALS_MAX,
    LOT_SERIALS_MAX,
    RECOVERED_MATERIALS_MAX,
    REPURPOSE_MIN_PCT_DEFAULT,
    REUSE_MIN_PCT_DEFAULT,
    SALE_ITEMS_MAX,
    sale_total,
)
from contracts.enums import (
    Application,
    Category,
    Chemistry,
    Condition,
    ContractKind,
    CounterpartyKind,
    CustodyReason,
    Material,
    PartyKind,
    RefundMethod,
    Resolution,
    SourceKind,
)
from contracts.topics import IN_EVENT_TYPES
from contracts.types import (
    _COUNTRY,
    _CURRENCY,
    _DATE,
    _IDENTIFIER,
    IDENTIFIER_LENGTH_MAX,
    MONEY_MINOR_UNITS_MAX,
    PERCENT_MAX,
    TEXT_LENGTH_MAX,
    _date,
    _mass,
    _timestamp,
    as_uuid,
)

Identifier = Annotated[str, msgspec.Meta(pattern=rf"^{_IDENTIFIER.pattern}\Z")]
# Identifiers in a list (serials, a sale's items) are checked together by their owner (`_identifiers`).
CheckedByOwner = str
# Floats whose JSON the native encoder writes as `json.dumps` does (below, it writes 0.00001 for 1e-05; above,
# exponents): the canonical form of an event holding only these is the same from both.
FLOAT_SAME_FORM_MIN, FLOAT_SAME_FORM_MAX = 1e-4, 1e16
MASSES_CACHED_MAX = 4096  # the masses of a product line repeat: each float's Decimal made once
_MASS_OF_FLOAT: dict[float, Decimal] = {}
_IDENTIFIER_LINES = re.compile(rf"(?:{_IDENTIFIER.pattern}\n)*{_IDENTIFIER.pattern}")
Currency = Annotated[str, msgspec.Meta(pattern=rf"^{_CURRENCY.pattern}\Z")]
Country = Annotated[str, msgspec.Meta(pattern=rf"^{_COUNTRY.pattern}\Z")]
Percent = Annotated[int, msgspec.Meta(ge=0, le=PERCENT_MAX)]
OpaqueRef = Annotated[str, msgspec.Meta(min_length=1, max_length=IDENTIFIER_LENGTH_MAX)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=TEXT_LENGTH_MAX)]
Money = Annotated[int, msgspec.Meta(ge=0, le=MONEY_MINOR_UNITS_MAX)]
if TYPE_CHECKING:  # a field holds the wire's value, then (from `__post_init__` on) the decoded one
    from datetime import date
    from typing import TypeAlias
    from uuid import UUID

    MassNumber: TypeAlias = int | float | Decimal
    TimestampText: TypeAlias = str | datetime
    DateText: TypeAlias = str | date
    EventIdText: TypeAlias = str | UUID
else:
    # A JSON number on the wire; a `Decimal` once decoded (`_mass`, as the models convert it).
    MassNumber = int | float
    # An RFC 3339 text on the wire; an aware `datetime` once decoded (`_timestamp`).
    TimestampText = str
    # A YYYY-MM-DD text on the wire; a `date` once decoded (`_date`).
    DateText = Annotated[str, msgspec.Meta(pattern=rf"^{_DATE.pattern}\Z")]
    # A UUID text on the wire; a `UUID` once decoded (`as_uuid`).
    EventIdText = str


class _Wire(msgspec.Struct, forbid_unknown_fields=True):
    """Closed, as the models are (`extra="forbid"`); treated as immutable once decoded."""


def _mass_of(value: int | float | Decimal) -> Decimal:
    """`_mass` of the models; a float outside [FLOAT_SAME_FORM_MIN, FLOAT_SAME_FORM_MAX) is left to them."""
    if type(value) is not float:
        return _mass(value)
    found = _MASS_OF_FLOAT.get(value)
    if found is None:
        if not FLOAT_SAME_FORM_MIN <= value < FLOAT_SAME_FORM_MAX:
            raise ValueError("a mass read by the models")
        found = _mass(value)
        if len(_MASS_OF_FLOAT) >= MASSES_CACHED_MAX:
            _MASS_OF_FLOAT.clear()
        _MASS_OF_FLOAT[value] = found
    return found


def _identifiers(values: list[str]) -> None:
    """Every value an identifier, in one pass: joined by a line feed, which no value read here holds."""
    if values and not _IDENTIFIER_LINES.fullmatch("\n".join(values)):
        raise ValueError("must be identifiers")


def _unique_identifiers(serials: list[str]) -> None:
    _identifiers(serials)
    if len(set(serials)) != len(serials):
        raise ValueError("must not repeat a serial")


class SaleItem(_Wire):
    serial: CheckedByOwner
    sku: CheckedByOwner
    category: Category
    chemistry: Chemistry
    mass_kg: MassNumber
    deposit: Money
    recycling_fee: Money
    contract: ContractKind = "deposit"

    def __post_init__(self) -> None:
        self.mass_kg = _mass_of(self.mass_kg)
        if self.contract == "lease" and self.deposit != 0:
            raise ValueError("deposit must be 0 for a lease")


class SaleRecorded(_Wire):
    sale_id: Identifier
    store_id: Identifier
    currency: Currency
    items: Annotated[list[SaleItem], msgspec.Meta(min_length=1, max_length=SALE_ITEMS_MAX)]
    customer_ref: OpaqueRef | None = None
    country: Country | None = None

    def __post_init__(self) -> None:
        serials = [item.serial for item in self.items]
        _unique_identifiers(serials)
        _identifiers([item.sku for item in self.items])
        if sale_total(self.items) > MONEY_MINOR_UNITS_MAX:
            raise ValueError("the sale's total of deposits and recycling fees is read by the models")


class SaleCancelled(_Wire):
    sale_id: Identifier
    store_id: Identifier
    serials: Annotated[list[CheckedByOwner], msgspec.Meta(min_length=1, max_length=CANCELLED_SERIALS_MAX)]
    reason: Text

    def __post_init__(self) -> None:
        _unique_identifiers(self.serials)


class Refund(_Wire):
    method: RefundMethod
    payee_ref: OpaqueRef | None = None

    def __post_init__(self) -> None:
        if self.method == "bank_transfer" and self.payee_ref is None:
            raise ValueError("payee_ref is required for bank_transfer")


class CollectionLogged(_Wire):
    collection_id: Identifier
    centre_id: Identifier
    serial: Identifier
    condition: Condition
    mass_kg: MassNumber | None = None
    refund: Refund | None = None
    state_of_health_pct: Percent | None = None
    country: Country | None = None

    def __post_init__(self) -> None:
        if self.mass_kg is not None:
            self.mass_kg = _mass_of(self.mass_kg)


class Party(_Wire):
    kind: PartyKind
    id: Identifier


class CustodyTransferred(_Wire):
    serial: Identifier
    from_: Party = msgspec.field(name="from")
    to: Party
    reason: CustodyReason


class LotDispatched(_Wire):
    lot_id: Identifier
    centre_id: Identifier
    recycler_id: Identifier
    serials: Annotated[list[CheckedByOwner], msgspec.Meta(min_length=1, max_length=LOT_SERIALS_MAX)]
    gross_mass_kg: MassNumber

    def __post_init__(self) -> None:
        _unique_identifiers(self.serials)
        self.gross_mass_kg = _mass_of(self.gross_mass_kg)


class LotReceived(_Wire):
    lot_id: Identifier
    recycler_id: Identifier
    serials_received: Annotated[list[CheckedByOwner], msgspec.Meta(max_length=LOT_SERIALS_MAX)]
    gross_mass_kg: MassNumber

    def __post_init__(self) -> None:
        _unique_identifiers(self.serials_received)
        self.gross_mass_kg = _mass_of(self.gross_mass_kg)


class RecoveredMaterial(_Wire):
    material: Material
    mass_kg: MassNumber

    def __post_init__(self) -> None:
        self.mass_kg = _mass_of(self.mass_kg)


class RecoveryConfirmed(_Wire):
    lot_id: Identifier
    recycler_id: Identifier
    input_mass_kg: MassNumber
    recovered: Annotated[
        list[RecoveredMaterial], msgspec.Meta(min_length=1, max_length=RECOVERED_MATERIALS_MAX)
    ]
    cost: Money
    currency: Currency
    output_mass_kg: MassNumber | None = None

    def __post_init__(self) -> None:
        self.input_mass_kg = _mass_of(self.input_mass_kg)
        if self.output_mass_kg is not None:
            self.output_mass_kg = _mass_of(self.output_mass_kg)
            if self.output_mass_kg > self.input_mass_kg:  # left to the models, which name the rule
                raise ValueError("output_mass_kg must not be above input_mass_kg")


class TermsPublished(_Wire):
    sku: Identifier
    deposit: Money
    recycling_fee: Money
    currency: Currency
    effective_from: TimestampText
    handling_fee: Money = 0
    reuse_min_pct: Percent = REUSE_MIN_PCT_DEFAULT
    repurpose_min_pct: Percent = REPURPOSE_MIN_PCT_DEFAULT

    def __post_init__(self) -> None:
        self.effective_from = _timestamp(self.effective_from)


class Counterparty(_Wire):
    kind: CounterpartyKind
    id: Identifier


class PaymentRecorded(_Wire):
    payment_id: Identifier
    counterparty: Counterparty
    amount: Money
    currency: Currency
    value_date: DateText
    reference: Text | None = None

    def __post_init__(self) -> None:
        self.value_date = _date(self.value_date)


class DepositsReleased(_Wire):
    release_id: Identifier
    currency: Currency
    sold_before: TimestampText

    def __post_init__(self) -> None:
        self.sold_before = _timestamp(self.sold_before)


class DiscrepancyResolved(_Wire):
    discrepancy_id: Identifier
    resolution: Resolution
    note: Text | None = None


class BatteryRepurposed(_Wire):
    serial: Identifier
    operator_id: Identifier
    application: Application


class Source(_Wire):
    kind: SourceKind
    id: Identifier


class Event(_Wire):
    """The envelope; each event type below narrows `type` and `data`."""

    event_id: EventIdText
    version: Literal[1]
    occurred_at: TimestampText
    source: Source

    def __post_init__(self) -> None:
        self.event_id = as_uuid(self.event_id)
        self.occurred_at = _timestamp(self.occurred_at)


class SaleRecordedEvent(Event):
    type: Literal["sale.recorded"]
    data: SaleRecorded


class SaleCancelledEvent(Event):
    type: Literal["sale.cancelled"]
    data: SaleCancelled


class CollectionLoggedEvent(Event):
    type: Literal["collection.logged"]
    data: CollectionLogged


class CustodyTransferredEvent(Event):
    type: Literal["custody.transferred"]
    data: CustodyTransferred


class LotDispatchedEvent(Event):
    type: Literal["lot.dispatched"]
    data: LotDispatched


class LotReceivedEvent(Event):
    type: Literal["lot.received"]
    data: LotReceived


class RecoveryConfirmedEvent(Event):
    type: Literal["recovery.confirmed"]
    data: RecoveryConfirmed


class TermsPublishedEvent(Event):
    type: Literal["terms.published"]
    data: TermsPublished


class PaymentRecordedEvent(Event):
    type: Literal["payment.recorded"]
    data: PaymentRecorded


class DepositsReleasedEvent(Event):
    type: Literal["deposits.released"]
    data: DepositsReleased

    def __post_init__(self) -> None:
        super().__post_init__()
        sold_before, occurred_at = self.data.sold_before, self.occurred_at
        assert isinstance(sold_before, datetime) and isinstance(occurred_at, datetime), "decoded above"
        if sold_before > occurred_at:  # left to the models, which name the rule
            raise ValueError("sold_before must not be after occurred_at")


class DiscrepancyResolvedEvent(Event):
    type: Literal["discrepancy.resolved"]
    data: DiscrepancyResolved


class BatteryRepurposedEvent(Event):
    type: Literal["battery.repurposed"]
    data: BatteryRepurposed


_EVENTS: tuple[type[Event], ...] = (
    SaleRecordedEvent,
    SaleCancelledEvent,
    CollectionLoggedEvent,
    CustodyTransferredEvent,
    LotDispatchedEvent,
    LotReceivedEvent,
    RecoveryConfirmedEvent,
    TermsPublishedEvent,
    PaymentRecordedEvent,
    DepositsReleasedEvent,
    DiscrepancyResolvedEvent,
    BatteryRepurposedEvent,
)
# Private: the structs' checks of listed identifiers rely on `read_event`'s guards (no escapes).
_STRUCT_OF_TYPE: dict[str, Any] = {  # each a struct of `InEvent`
    get_args(get_type_hints(event)["type"])[0]: event for event in _EVENTS
}
assert tuple(_STRUCT_OF_TYPE) == IN_EVENT_TYPES
_ANY = msgspec.json.Decoder()
_convert = msgspec.convert


def canonical_json(obj: Any) -> str:
    """The canonical JSON of a parsed event (sorted keys, no spaces, ASCII): what the content hash covers."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _canonical_bytes(obj: dict[str, Any]) -> bytes:
    """`canonical_json` of an object the structs accepted, in native code where that writes the same.

    The native encoder writes strings without escapes, integers up to 64 bits and floats from 1e-4 to
    1e16 (the only floats the structs accept: `_mass_of`) as `json.dumps` does.
    """
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        return canonical_json(obj).encode("ascii")


def read_event(raw: bytes) -> tuple[InEvent, bytes] | None:
    """The event and its content hash in one native pass, or None: then the models must read it.

    The value is parsed once: the parsed object gives the canonical form (the content hash) and is
    converted into the event's struct, which checks it rule for rule.

    Left to the models: a value that is not ASCII, holds an escape (`\\`) or a DEL
    (which `json.dumps` escapes), and any key repeated. A repeated key is found by
    counting: without escapes, every `:` either separates a key from its value or
    stands in a string, so the value has as many as its canonical form exactly
    when no key was repeated (a repeated key's member is dropped with its `:`).
    """
    if b"\\" in raw or b"\x7f" in raw or not raw.isascii():
        return None
    try:
        obj = _ANY.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    if type(obj) is not dict or type(event_type := obj.get("type")) is not str:
        return None
    struct = _STRUCT_OF_TYPE.get(event_type)
    if struct is None:
        return None
    try:  # the parsed object, checked and typed (strict, as decoding it would be): the JSON is parsed once
        event = _convert(obj, struct)
    except msgspec.ValidationError:
        return None
    canonical = _canonical_bytes(obj)
    if canonical.count(b":") != raw.count(b":"):
        return None
    return event, sha256(canonical).digest()


InEvent = (
    SaleRecordedEvent
    | SaleCancelledEvent
    | CollectionLoggedEvent
    | CustodyTransferredEvent
    | LotDispatchedEvent
    | LotReceivedEvent
    | RecoveryConfirmedEvent
    | TermsPublishedEvent
    | PaymentRecordedEvent
    | DepositsReleasedEvent
    | DiscrepancyResolvedEvent
    | BatteryRepurposedEvent
)
