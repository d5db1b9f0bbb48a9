"""The envelope (contract section 2) and one typed envelope per event type."""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, model_validator
from pydantic_core import PydanticCustomError

from contracts import data_in, data_out, topics
from contracts.base import WireModel
from contracts.enums import SourceKind
from contracts.types import EventId, Identifier, Timestamp, Version

if TYPE_CHECKING:  # a Literal built from the catalogue at import: to a type checker, the text it is
    EventType = str
else:
    EventType = Literal[tuple(dict.fromkeys(map(topics.wire_type, topics.EVENT_TYPES)))]


class EventSource(WireModel):
    kind: str
    id: Identifier


class Source(EventSource):
    """Who sent an event in."""

    kind: SourceKind


class SchemeSource(EventSource):
    """The source of every event out: the emitting service of the scheme."""

    kind: Literal["scheme"]


class Envelope(WireModel):
    """Any event; each event type narrows `type`, `source` and `data` below."""

    event_id: EventId
    type: EventType
    version: Version
    occurred_at: Timestamp
    source: EventSource
    data: Any

    def to_json_bytes(self) -> bytes:
        """Compact JSON as it travels on the wire (masses as JSON numbers)."""
        return self.model_dump_json(by_alias=True).encode()


class UntypedEvent(Envelope):
    """What is checked of an event whose `type` is missing or not a string."""

    source: Source
    data: dict[str, Any]


class SaleRecordedEvent(Envelope):
    type: Literal["sale.recorded"]
    source: Source
    data: data_in.SaleRecorded


class SaleCancelledEvent(Envelope):
    type: Literal["sale.cancelled"]
    source: Source
    data: data_in.SaleCancelled


class CollectionLoggedEvent(Envelope):
    type: Literal["collection.logged"]
    source: Source
    data: data_in.CollectionLogged


class CustodyTransferredEvent(Envelope):
    type: Literal["custody.transferred"]
    source: Source
    data: data_in.CustodyTransferred


class LotDispatchedEvent(Envelope):
    type: Literal["lot.dispatched"]
    source: Source
    data: data_in.LotDispatched


class LotReceivedEvent(Envelope):
    type: Literal["lot.received"]
    source: Source
    data: data_in.LotReceived


class RecoveryConfirmedEvent(Envelope):
    type: Literal["recovery.confirmed"]
    source: Source
    data: data_in.RecoveryConfirmed


class TermsPublishedEvent(Envelope):
    type: Literal["terms.published"]
    source: Source
    data: data_in.TermsPublished


class PaymentRecordedEvent(Envelope):
    type: Literal["payment.recorded"]
    source: Source
    data: data_in.PaymentRecorded


class DepositsReleasedEvent(Envelope):
    type: Literal["deposits.released"]
    source: Source
    data: data_in.DepositsReleased

    @model_validator(mode="after")
    def _sold_before_not_after_the_event(self) -> "DepositsReleasedEvent":
        if self.data.sold_before > self.occurred_at:
            raise PydanticCustomError(
                "after_occurred_at",
                "must not be after the event's occurred_at ({occurred_at})",
                {"field": "data.sold_before", "occurred_at": self.occurred_at.isoformat()},
            )
        return self


class DiscrepancyResolvedEvent(Envelope):
    type: Literal["discrepancy.resolved"]
    source: Source
    data: data_in.DiscrepancyResolved


class BatteryRepurposedEvent(Envelope):
    type: Literal["battery.repurposed"]
    source: Source
    data: data_in.BatteryRepurposed


class RefundInstructedEvent(Envelope):
    type: Literal["refund.instructed"]
    source: SchemeSource
    data: data_out.RefundInstructed


class EntryPostedEvent(Envelope):
    type: Literal["entry.posted"]
    source: SchemeSource
    data: data_out.EntryPosted


class EventRejectedEvent(Envelope):
    type: Literal["event.rejected"]
    source: SchemeSource
    data: data_out.EventRejected


class DiscrepancyOpenedEvent(Envelope):
    type: Literal["discrepancy.opened"]
    source: SchemeSource
    data: data_out.DiscrepancyOpened


class ReconciliationCompletedEvent(Envelope):
    type: Literal["reconciliation.completed"]
    source: SchemeSource
    data: data_out.ReconciliationCompleted


class DiscrepancyResolvedOutEvent(Envelope):
    """Out, on takeback.discrepancies: catalogue name `discrepancy.resolved.out` (`topics.wire_type`)."""

    type: Literal["discrepancy.resolved"]
    source: SchemeSource
    data: data_out.DiscrepancyResolvedOut


class BatteryRoutedEvent(Envelope):
    """Out, on takeback.routing (contract 8.3)."""

    type: Literal["battery.routed"]
    source: SchemeSource
    data: data_out.BatteryRouted


_ENVELOPES: tuple[type[Envelope], ...] = (
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
    RefundInstructedEvent,
    EntryPostedEvent,
    EventRejectedEvent,
    DiscrepancyOpenedEvent,
    ReconciliationCompletedEvent,
    DiscrepancyResolvedOutEvent,
    BatteryRoutedEvent,
)


def _message_name(envelope: type[Envelope]) -> str:
    wire = envelope.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
    scheme = envelope.model_fields["source"].annotation is SchemeSource
    return topics.message_name(wire, topics.SCHEME_SOURCE_KIND if scheme else None)


# Keyed by catalogue name (topics.EVENT_TYPES), which is the wire type but for `discrepancy.resolved.out`.
ENVELOPE_OF_TYPE: dict[str, type[Envelope]] = {_message_name(envelope): envelope for envelope in _ENVELOPES}
DATA_MODEL_OF_TYPE: dict[str, type[BaseModel]] = {
    event_type: envelope.model_fields["data"].annotation  # type: ignore[misc]
    for event_type, envelope in ENVELOPE_OF_TYPE.items()
}
assert tuple(ENVELOPE_OF_TYPE) == topics.EVENT_TYPES
