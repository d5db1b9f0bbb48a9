"""The `data` of each event in (contract section 3)."""

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from contracts.base import WireModel
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
)
from contracts.types import (
    MONEY_MINOR_UNITS_MAX,
    Country,
    Currency,
    Date,
    Identifier,
    Mass,
    Money,
    OpaqueRef,
    Percent,
    Text,
    Timestamp,
)

SALE_ITEMS_MAX = 500
CANCELLED_SERIALS_MAX = 500
LOT_SERIALS_MAX = 10_000
RECOVERED_MATERIALS_MAX = 20
REUSE_MIN_PCT_DEFAULT = 85  # contract 8.3: a state of health at or above it is reused
REPURPOSE_MIN_PCT_DEFAULT = 65  # at or above it (below reuse) repurposed; below it recycled


def _no_repeats(serials: list[str]) -> list[str]:
    seen: set[str] = set()
    twice: set[str] = set()
    for serial in serials:
        (twice if serial in seen else seen).add(serial)
    repeated = sorted(twice)
    if repeated:
        raise PydanticCustomError(
            "unique",
            "must not repeat a serial (repeated: {repeated})",
            {"repeated": ", ".join(repeated[:10])},
        )
    return serials


UniqueSerials = Annotated[
    list[Identifier], AfterValidator(_no_repeats), Field(json_schema_extra={"uniqueItems": True})
]


class SaleItem(WireModel):
    # The lease rule below, in the JSON Schema too.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"contract": {"const": "lease"}}, "required": ["contract"]},
            "then": {"properties": {"deposit": {"const": 0}}},
        }
    )

    serial: Identifier
    sku: Identifier
    category: Category
    chemistry: Chemistry
    mass_kg: Mass
    contract: ContractKind = "deposit"  # before `deposit`, so the lease rule can see it
    deposit: Money
    recycling_fee: Money

    @field_validator("deposit")
    @classmethod
    def _no_deposit_on_lease(cls, deposit: int, info: ValidationInfo) -> int:
        if info.data.get("contract") == "lease" and deposit != 0:
            raise PydanticCustomError("lease_deposit", "deposit must be 0 for a lease")
        return deposit


class SaleRecorded(WireModel):
    sale_id: Identifier
    store_id: Identifier
    currency: Currency
    customer_ref: OpaqueRef | None = None
    country: Country | None = None  # contract 8.3: where the batteries were placed on the market
    items: list[SaleItem] = Field(min_length=1, max_length=SALE_ITEMS_MAX)

    @field_validator("items")
    @classmethod
    def _serials_unique(cls, items: list[SaleItem]) -> list[SaleItem]:
        _no_repeats([item.serial for item in items])
        if sale_total(items) > MONEY_MINOR_UNITS_MAX:
            raise PydanticCustomError(
                "sale_total",
                "the sale's total of deposits and recycling fees must be at most {max} minor units",
                {"max": MONEY_MINOR_UNITS_MAX},
            )
        return items


def sale_total(items: Iterable[Any]) -> int:
    """What the sale's postings debit its store in all: each item's deposit plus recycling fee (one currency).

    Held to `MONEY_MINOR_UNITS_MAX`, so no amount a sale posts, nor its sum, overflows a bigint."""
    return sum(item.deposit + item.recycling_fee for item in items)


class SaleCancelled(WireModel):
    sale_id: Identifier
    store_id: Identifier
    serials: UniqueSerials = Field(min_length=1, max_length=CANCELLED_SERIALS_MAX)
    reason: Text


class Refund(WireModel):
    # The payee rule below, in the JSON Schema too.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"method": {"const": "bank_transfer"}}, "required": ["method"]},
            "then": {"properties": {"payee_ref": {"type": "string"}}, "required": ["payee_ref"]},
        }
    )

    method: RefundMethod
    payee_ref: OpaqueRef | None = Field(default=None, validate_default=True)

    @field_validator("payee_ref")
    @classmethod
    def _payee_for_bank_transfer(cls, payee_ref: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("method") == "bank_transfer" and payee_ref is None:
            raise PydanticCustomError("payee_required", "payee_ref is required for bank_transfer")
        return payee_ref


class CollectionLogged(WireModel):
    collection_id: Identifier
    centre_id: Identifier
    serial: Identifier
    condition: Condition
    mass_kg: Mass | None = None
    refund: Refund | None = None
    state_of_health_pct: Percent | None = None  # contract 8.3: graded by the centre; routes the battery
    country: Country | None = None  # contract 8.3: where the battery was collected


class Party(WireModel):
    kind: PartyKind
    id: Identifier


class CustodyTransferred(WireModel):
    # `from` is a Python keyword: read `.from_`; build with `model_validate({"from": ...})`.
    serial: Identifier
    from_: Party = Field(alias="from")
    to: Party
    reason: CustodyReason


class LotDispatched(WireModel):
    lot_id: Identifier
    centre_id: Identifier
    recycler_id: Identifier
    serials: UniqueSerials = Field(min_length=1, max_length=LOT_SERIALS_MAX)
    gross_mass_kg: Mass


class LotReceived(WireModel):
    lot_id: Identifier
    recycler_id: Identifier
    serials_received: UniqueSerials = Field(min_length=0, max_length=LOT_SERIALS_MAX)
    gross_mass_kg: Mass


class RecoveredMaterial(WireModel):
    material: Material
    mass_kg: Mass


class RecoveryConfirmed(WireModel):
    lot_id: Identifier
    recycler_id: Identifier
    input_mass_kg: Mass
    recovered: list[RecoveredMaterial] = Field(min_length=1, max_length=RECOVERED_MATERIALS_MAX)
    cost: Money
    currency: Currency
    output_mass_kg: Mass | None = None  # contract 8.3: what the recycling process put out (efficiency)

    @model_validator(mode="after")
    def _output_not_above_input(self) -> "RecoveryConfirmed":
        if self.output_mass_kg is not None and self.output_mass_kg > self.input_mass_kg:
            raise PydanticCustomError(
                "not_above_input",
                "must not be above input_mass_kg ({input})",
                {"field": "data.output_mass_kg", "input": str(self.input_mass_kg)},
            )
        return self


class TermsPublished(WireModel):
    sku: Identifier
    deposit: Money
    recycling_fee: Money
    currency: Currency
    effective_from: Timestamp
    handling_fee: Money = 0  # contract 8.1: earned by the centre per collection of a battery of this sku
    # Contract 8.3: the state of health a collected battery of this sku needs to be reused, or repurposed.
    # Each is any integer 0-100 on its own: the contract sets no order between them (a repurpose threshold
    # above the reuse one is valid; routing checks reuse first).
    reuse_min_pct: Percent = REUSE_MIN_PCT_DEFAULT
    repurpose_min_pct: Percent = REPURPOSE_MIN_PCT_DEFAULT


class Counterparty(WireModel):
    kind: CounterpartyKind
    id: Identifier


class PaymentRecorded(WireModel):
    """Contract 8.1: money that moved between the scheme's bank account and a counterparty."""

    payment_id: Identifier
    counterparty: Counterparty
    amount: Money
    currency: Currency
    value_date: Date
    reference: Text | None = None


class DepositsReleased(WireModel):
    """Contract 8.1: deposits unclaimed since before `sold_before` move to the reserve."""

    release_id: Identifier
    currency: Currency
    sold_before: Timestamp


class DiscrepancyResolved(WireModel):
    """Contract 8.1: finance closes an open discrepancy."""

    discrepancy_id: Identifier
    resolution: Resolution
    note: Text | None = None


class BatteryRepurposed(WireModel):
    """Contract 8.3: a second-life operator holding a collected battery gives it a second life."""

    serial: Identifier
    operator_id: Identifier
    application: Application
