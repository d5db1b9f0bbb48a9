"""Bodies of the HTTP API (contract section 6), for the OpenAPI document and the answers we build.

Read-model bodies document what the streams and the ledger return; extra fields
are allowed, so an addition there is not a breaking change here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.accounts import BANK, RESERVE

BatteryState = Literal[
    "in_use", "cancelled", "collected", "in_transit", "at_recycler", "recycled", "lost", "repurposed"
]


class FieldError(BaseModel):
    field: str = Field(examples=["data.items.0.deposit"])
    rule: str = Field(examples=["money"])
    message: str


class Refusal(BaseModel):
    """Why a request was refused; `error` is a reason code, `errors` names every failing field."""

    error: str = Field(examples=["schema_violation", "unknown_key", "type_not_allowed"])
    message: str
    errors: list[FieldError] = []


class EventAccepted(BaseModel):
    event_id: UUID
    status: Literal["accepted"] = "accepted"


class CollectionRefund(BaseModel):
    amount: int = Field(ge=0, description="Minor units")
    currency: str = Field(examples=["EUR"])
    method: str = Field(examples=["cash", "card", "bank_transfer", "voucher"])


class CollectionOutcome(BaseModel):
    """A collection applied: the battery's state, the refund instructed (null for a lease or an orphan)."""

    state: Literal["collected"]
    refund: CollectionRefund | None
    handling_fee: int = Field(
        ge=0, description="Minor units: the handling fee the centre earned for this collection (contract 8.1)"
    )
    taken_back: Literal["refunded", "lease_closed", "taken_back_free"] | None = Field(
        description="How the scheme took the battery back"
    )


class AppliedOutcome(BaseModel):
    """Any other event applied: its type."""

    event_type: str


class RejectionOutcome(BaseModel):
    reason: str = Field(examples=["already_returned", "event_id_conflict"])
    message: str


class EventDecided(BaseModel):
    """An event applied or rejected (`Prefer: wait`): what the scheme decided."""

    event_id: UUID
    status: Literal["applied", "rejected"]
    outcome: CollectionOutcome | AppliedOutcome | RejectionOutcome


class EventStatus(BaseModel):
    """An event's status: `accepted` (in Kafka, not applied yet; outcome null), `applied` or `rejected`."""

    event_id: UUID
    status: Literal["accepted", "applied", "rejected"]
    outcome: CollectionOutcome | AppliedOutcome | RejectionOutcome | None


class ReadBody(BaseModel):
    model_config = ConfigDict(extra="allow")


class BatteryParty(ReadBody):
    kind: str
    id: str


class HistoryStep(ReadBody):
    at: datetime
    event_id: UUID
    event_type: str
    from_: BatteryParty | None = Field(alias="from")
    to: BatteryParty
    state: BatteryState


class Battery(ReadBody):
    serial: str
    state: BatteryState
    contract: Literal["deposit", "lease"] | None
    sku: str | None
    category: str | None
    chemistry: str | None
    deposit_charged: int
    deposit_refunded: int
    deposit_released: bool = Field(
        description=f"the deposit was moved to {RESERVE} by a "
        "deposits.released (contract 8.1); still refundable"
    )
    currency: str | None
    custodian: BatteryParty
    history: list[HistoryStep]


class Passport(ReadBody):
    """The battery passport (contract 8.3): the fields of Regulation (EU) 2023/1542 Annex XIII the scheme
    holds; docs/REGULATION.md names the Annex point each serves."""

    serial: str = Field(description="The battery's unique identifier (Annex VI Part A point 2)")
    category: str | None = Field(description="portable, lmt, sli, industrial or ev (null: never sold here)")
    chemistry: str | None = Field(description="The chemistry sold (null: never sold here)")
    mass_kg: str | None = Field(
        description="Kilograms, three decimals: the sale's, else the last collection's (null: unknown)",
        examples=["2.800"],
    )
    status: Literal["original", "repurposed", "waste"] = Field(
        description="original while in its first use (in_use, cancelled), repurposed, waste once taken "
        "back and not repurposed (collected, in_transit, at_recycler, recycled, lost)"
    )
    state: BatteryState = Field(description="The scheme's state, from which the status follows")
    state_of_health_pct: int | None = Field(
        description="The last state of health a collection gave, 0-100 (null: never given)"
    )
    custodian: BatteryParty
    history: list[HistoryStep] = Field(description="The custody chain, in order")


class BalanceLine(ReadBody):
    account: str
    currency: str
    debit: int
    credit: int


class Balances(ReadBody):
    as_of: datetime
    balances: list[BalanceLine]


class ReconciliationCheck(ReadBody):
    name: str
    ok: bool
    expected: Any = None
    actual: Any = None
    details: Any = None


class Reconciliation(ReadBody):
    status: Literal["balanced", "discrepancies"]
    as_of: datetime
    checks: list[ReconciliationCheck]
    open_discrepancies: list[dict[str, Any]] = []
    run_id: UUID | None = None  # the stored run this is


class ReconciliationRun(BaseModel):
    """A reconciliation run asked for over HTTP (or any stored run): its state, its result once done."""

    run_id: UUID
    state: Literal["queued", "running", "completed", "failed"]
    requested_at: datetime | None = Field(
        description="When it was asked for (null for a run the ledger made)"
    )
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None = Field(description="Why it failed (state `failed`)")
    result: Reconciliation | None = Field(default=None, description="The run's result, once `completed`")


class Report(ReadBody):
    """Collection: batteries sold, collected, collection rate (with `basis=weight`: kilograms collected
    against the three-year average placed on the market, contract 8.3); recovery: mass and rate per
    material over the lots whose every received battery has a known composition, with what was left out
    (`lots_left_out`, `input_mass_kg_left_out`, `coverage_percent`, each material's
    `recovered_kg_left_out`)."""


class EfficiencyGroup(ReadBody):
    group: Literal["lead-acid", "lithium", "nickel-cadmium", "other"]
    lots: int = Field(description="Lots with output mass that held batteries of the group")
    batteries: int
    input_kg: str = Field(description="The group's share of those lots' input mass")
    output_kg: str = Field(description="The group's share of those lots' output mass")
    recycling_efficiency_percent: str | None = Field(description="output / input, two decimals")
    target: dict[str, Any] | None = Field(description="Annex XII Part B target in force in the year")
    next_target: dict[str, Any] | None
    meets_target: bool | None


class RecyclingEfficiency(ReadBody):
    """Output over input mass per chemistry group of the lots recovered in the year (contract 8.3)."""

    year: int | None
    method: str
    lots: int
    lots_without_output_mass: int = Field(description="Left out: confirmed without output_mass_kg")
    input_kg_without_output_mass: str
    lots_without_batteries: int = Field(description="Left out: no received battery to share the lot by")
    batteries_without_mass: int
    groups: list[EfficiencyGroup]


class SettlementCounterparty(ReadBody):
    kind: Literal["store", "centre", "recycler"]
    id: str


class Statement(ReadBody):
    """One counterparty's balance in one currency over the period, in minor units: positive is owed to the
    scheme, negative owed by it; closing = opening + charges + payments."""

    counterparty: SettlementCounterparty
    currency: str
    opening: int = Field(description="The balance of every entry that occurred before `from`")
    charges: int = Field(
        description="Every movement in the period but payments (sales, refunds, fees, costs)"
    )
    payments: int = Field(description=f"Movements of entries that also move `{BANK}` (payment.recorded)")
    closing: int = Field(description="opening + charges + payments")
    in_suspense: int = Field(
        description="Of the closing balance, what is on the store's suspense account "
        "(0 for centres and the recycler)"
    )


class Settlement(ReadBody):
    from_: datetime = Field(alias="from", description="Start of the period, inclusive")
    to: datetime = Field(description="End of the period, exclusive")
    as_of: datetime = Field(description="When the journal was read")
    statements: list[Statement]


class Discrepancy(ReadBody):
    discrepancy_id: str
    kind: str
    subject: str
    details: dict[str, Any]
    caused_by: UUID
    opened_at: datetime
    status: Literal["open", "resolved"]
    resolution: str | None = Field(description="How finance resolved it (null while open)")
    note: str | None
    resolved_at: datetime | None
    resolved_by: UUID | None = Field(description="The discrepancy.resolved event (null while open)")


class DiscrepancyList(ReadBody):
    as_of: datetime
    discrepancies: list[Discrepancy]
    next_cursor: str | None = Field(description="Give it as `cursor` for the next page; null on the last")


class Health(BaseModel):
    status: Literal["ok", "starting"]
    scheme: dict[str, Any] | None = None  # relays, parked events out, consumer lag, last reconciliation
