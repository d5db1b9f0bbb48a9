"""One handler per event type: check everything first, then change the batch state.

A handler that raises `Rejected` has changed nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from contracts import events as ev
from services.common.logging import get_logger
from streams.adapters.rows import (
    CollectionRow,
    DiscrepancyRow,
    LateSaleRow,
    RecoveredMaterialRow,
    RecoveryRow,
    RefundRow,
    RepurposingRow,
)
from streams.domain import postings
from streams.domain.battery import AT_RECYCLER, IN_USE, SECOND_LIFE, Party
from streams.domain.battery import IN_TRANSIT as BATTERY_IN_TRANSIT
from streams.domain.discrepancy import Discrepancy
from streams.domain.errors import CustodyMismatch, UnknownBattery, UnknownSale
from streams.domain.lot import IN_TRANSIT, MASS_TOLERANCE, Lot, LotItem, lot_for
from streams.domain.routing import route_of
from streams.domain.sale import IN_MARKET, SUSPENSE, Sale, SaleItem
from streams.domain.terms import Terms
from streams.service_layer import closing, events_out
from streams.service_layer.state import BatchState

log = get_logger(__name__)


def open_discrepancy(state: BatchState, kind: str, subject: str, details: dict, caused_by) -> None:
    """Opened, and known to the rest of the batch at once: its id is deterministic, so a resolution applied
    in the same batch (a replay into an empty database, finance quick on the id) resolves it exactly as a
    later batch would (contract 8.1). One the batch loaded already stays as loaded, with its resolution."""
    discrepancy_id = events_out.stable_id("discrepancy", kind, subject, caused_by)
    state.discrepancies.append(DiscrepancyRow(discrepancy_id, kind, subject, details, caused_by))
    state.known_discrepancies.setdefault(
        UUID(discrepancy_id), Discrepancy(UUID(discrepancy_id), kind, subject, dict(details), caused_by)
    )
    state.outbox.append(events_out.discrepancy_opened(discrepancy_id, kind, subject, details, caused_by))


def post(state: BatchState, posting) -> None:
    if posting is not None:
        state.postings.append(posting)  # sent to the ledger together, once the batch is applied


def sale_recorded(state: BatchState, event: ev.SaleRecordedEvent) -> None:
    data, at = event.data, event.occurred_at
    Sale.check_new(data.sale_id, state.sales.get(data.sale_id))
    customer = Party("customer", data.customer_ref or f"sale:{data.sale_id}")
    sale = state.sales[data.sale_id] = Sale(
        data.sale_id, data.store_id, data.currency, at, event.event_id, {}, data.country
    )
    state.changed_sales.add(data.sale_id)
    for item in data.items:
        battery = state.battery(item.serial)
        collection = _collected_as_orphan_after(state, item.serial, at)  # a late sale (contract 8.2)
        suspense = collection is None and not battery.can("sale.recorded")  # new, cancelled: sold; else held
        sale.items[item.serial] = SaleItem(
            item.serial,
            item.sku,
            item.category,
            item.chemistry,
            item.mass_kg,
            item.deposit,
            item.recycling_fee,
            item.contract,
            SUSPENSE if suspense else IN_MARKET,
        )
        state.changed_sale_items.add((data.sale_id, item.serial))
        post(
            state,
            postings.sale_item(
                data.sale_id,
                data.store_id,
                item.serial,
                item.contract,
                item.deposit,
                item.recycling_fee,
                data.currency,
                event.event_id,
                at,
                suspense,
            ),
        )
        if suspense:
            open_discrepancy(
                state,
                "serial_already_in_market",
                item.serial,
                {
                    "sale_id": data.sale_id,
                    "store_id": data.store_id,
                    "state": battery.state,
                    "held_in_suspense": item.deposit + item.recycling_fee,
                },
                event.event_id,
            )
            continue
        _check_terms(state, event, item)
        if collection is None:
            battery.move("sale.recorded", customer, at, event.event_id)
        else:
            battery.sold_before_return(customer, at, event.event_id)
        battery.contract, battery.sku, battery.category = item.contract, item.sku, item.category
        battery.chemistry, battery.mass_kg, battery.currency = item.chemistry, item.mass_kg, data.currency
        battery.deposit_charged, battery.recycling_fee = item.deposit, item.recycling_fee
        battery.sale_id, battery.store_id, battery.sold_at = data.sale_id, data.store_id, at
        battery.deposit_refunded = 0
        state.changed_batteries.add(item.serial)
        if collection is not None:
            _settle_late_sale(state, event, item, collection)


def _collected_as_orphan_after(state: BatchState, serial: str, sold_at) -> CollectionRow | None:
    """The orphan collection this sale occurred before (or at the same instant), if any: the sale is late."""
    collection = state.collection_of_orphan(serial)
    return collection if collection is not None and sold_at <= collection.occurred_at else None


def _settle_late_sale(
    state: BatchState, event: ev.SaleRecordedEvent, item, collection: CollectionRow
) -> None:
    """What the collection would have done had the sale come first: refund the deposit, or close the lease."""
    outcome = "lease_closed" if item.contract == "lease" else "refunded"
    if outcome == "refunded":
        _refund_collection(state, collection, item.deposit, event.data.currency)
    fee = _late_handling_fee(state, collection, item.sku, event.data.currency)
    state.late_sales.append(
        LateSaleRow(
            collection.event_id,
            item.serial,
            event.data.sale_id,
            event.event_id,
            outcome,
            event.occurred_at,
            *fee,
        )
    )
    log.info(
        "late_sale_settled_collection",
        serial=item.serial,
        sale_id=event.data.sale_id,
        outcome=outcome,
        collection_event_id=str(collection.event_id),
    )


def _refund_collection(state: BatchState, collection: CollectionRow, amount: int, currency: str) -> None:
    """The refund of a collection, as `collection.logged` instructs it: same ids, method, posting and date."""
    serial, centre_id, caused_by, at = (
        collection.serial,
        collection.centre_id,
        collection.event_id,
        collection.occurred_at,
    )
    refund_id, method = events_out.stable_id("refund", caused_by), collection.refund_method or "cash"
    payee = collection.payee_ref
    state.batteries[serial].deposit_refunded = amount
    state.refunds.append(
        RefundRow(refund_id, serial, centre_id, amount, currency, method, payee, caused_by, at)
    )
    state.outbox.append(
        events_out.refund_instructed(refund_id, serial, centre_id, amount, currency, method, payee, caused_by)
    )
    post(state, postings.refund(serial, centre_id, amount, currency, caused_by, at))


def _check_terms(state: BatchState, event, item) -> None:
    terms = state.terms_in_force(item.sku, event.data.currency, event.occurred_at)
    if terms is not None and terms.charged_otherwise(item.contract, item.deposit, item.recycling_fee):
        open_discrepancy(
            state,
            "amount_differs_from_terms",
            item.serial,
            {
                "sku": item.sku,
                "contract": item.contract,
                "charged_deposit": item.deposit,
                "charged_recycling_fee": item.recycling_fee,
                "terms_deposit": terms.deposit,
                "terms_recycling_fee": terms.recycling_fee,
                "terms_effective_from": terms.effective_from.isoformat(),
            },
            event.event_id,
        )


def sale_cancelled(state: BatchState, event: ev.SaleCancelledEvent) -> None:
    data = event.data
    sale = state.sales.get(data.sale_id)
    if sale is None:
        raise UnknownSale(f"sale {data.sale_id} is not known")
    sale.check_cancellable(data.store_id, data.serials, state.batteries)
    customer_to = Party("pos", data.store_id)  # the goods go back to the store
    for serial in data.serials:
        was = sale.items[serial].status
        item = sale.cancel(serial)
        original = postings.sale_item(
            sale.sale_id,
            sale.store_id,
            serial,
            item.contract,
            item.deposit,
            item.recycling_fee,
            sale.currency,
            sale.event_id,
            sale.occurred_at,
            was == SUSPENSE,
        )
        if was == IN_MARKET:
            closing.unrelease(state, event, sale, state.batteries[serial])
        if original is not None:
            post(state, postings.cancellation(original, event.event_id, event.occurred_at, sale.sale_id))
        if was == IN_MARKET:
            state.batteries[serial].move("sale.cancelled", customer_to, event.occurred_at, event.event_id)
            state.changed_batteries.add(serial)
        state.changed_sale_items.add((sale.sale_id, serial))
    state.changed_sales.add(sale.sale_id)


def collection_logged(state: BatchState, event: ev.CollectionLoggedEvent) -> None:
    data = event.data
    battery = state.battery(data.serial)
    battery.check_collectable()
    was, contract = battery.state, battery.contract
    battery.move(
        "collection.logged", Party("return_centre", data.centre_id), event.occurred_at, event.event_id
    )
    battery.collected_at = event.occurred_at
    state.changed_batteries.add(data.serial)
    outcome = "taken_back_free"
    if was == IN_USE and contract == "lease":
        outcome = "lease_closed"
    elif was == IN_USE:
        outcome = "refunded"
        _refund(state, event, battery)
    terms = None  # the terms in force for its sku, looked up once for the fee and the route
    if battery.sku is not None and battery.currency is not None:
        terms = state.terms_in_force(battery.sku, battery.currency, event.occurred_at)
    fee = _handling_fee(state, event, battery, terms) if was == IN_USE else (0, None, None)
    route = _route(state, event, terms)
    state.collections.append(
        CollectionRow(
            event.event_id,
            data.collection_id,
            data.serial,
            data.centre_id,
            data.condition,
            data.mass_kg,
            outcome,
            event.occurred_at,
            *_refund_asked(data),
            *fee,
            data.state_of_health_pct,
            data.country,
            route,
        )
    )


def _route(state: BatchState, event, terms: Terms | None) -> str:
    """Contract 8.3: every collection applied routes its battery, by the thresholds of its sku's terms in
    force at the collection's occurred_at (in the currency it was sold in); an orphan, or a sku without
    terms, by the contract's defaults. `battery.routed` goes out with the collection's effects."""
    data = event.data
    route = route_of(data.condition, data.state_of_health_pct, terms)
    state.outbox.append(
        events_out.battery_routed(data.serial, route, data.state_of_health_pct, event.event_id)
    )
    return route


def _handling_fee(
    state: BatchState, event, battery, terms: Terms | None
) -> tuple[int, str | None, datetime | None]:
    """Contract 8.1: a battery collected from the market (under deposit or lease) earns the centre the
    handling fee of the terms in force at the collection's occurred_at for its sku and currency (`terms`),
    paid from the fund. An orphan, or a cancelled sale's battery (no longer under either contract), earns
    none. Returns the fee, its currency and the terms' effective_from, as the collection keeps them."""
    if terms is None or terms.handling_fee == 0:
        return 0, None, None
    post(
        state,
        postings.handling_fee(
            event.event_id,
            battery.serial,
            event.data.centre_id,
            terms.handling_fee,
            battery.currency,
            event.occurred_at,
        ),
    )
    return terms.handling_fee, battery.currency, terms.effective_from


def _late_handling_fee(
    state: BatchState, collection: CollectionRow, sku: str, currency: str
) -> tuple[int, str | None, datetime | None]:
    """The handling fee the settled collection earns, as `_handling_fee` had the sale come first: the terms in
    force at the collection's occurred_at, the same posting (key, cause, date)."""
    terms = state.terms_in_force(sku, currency, collection.occurred_at)
    if terms is None or terms.handling_fee == 0:
        return 0, None, None
    post(
        state,
        postings.handling_fee(
            collection.event_id,
            collection.serial,
            collection.centre_id,
            terms.handling_fee,
            currency,
            collection.occurred_at,
        ),
    )
    return terms.handling_fee, currency, terms.effective_from


def _refund_asked(data) -> tuple[str | None, str | None]:
    """The refund method and payee the centre named, kept with the collection for a late sale's refund."""
    return (data.refund.method, data.refund.payee_ref) if data.refund else (None, None)


def _refund(state: BatchState, event, battery) -> None:
    data, amount = event.data, battery.deposit_charged
    method = data.refund.method if data.refund else "cash"
    payee_ref = data.refund.payee_ref if data.refund else None
    refund_id = events_out.stable_id("refund", event.event_id)
    battery.deposit_refunded = amount
    state.refunds.append(
        RefundRow(
            refund_id,
            data.serial,
            data.centre_id,
            amount,
            battery.currency,
            method,
            payee_ref,
            event.event_id,
            event.occurred_at,
        )
    )
    state.outbox.append(
        events_out.refund_instructed(
            refund_id,
            data.serial,
            data.centre_id,
            amount,
            battery.currency,
            method,
            payee_ref,
            event.event_id,
        )
    )
    post(
        state,
        postings.refund(
            data.serial,
            data.centre_id,
            amount,
            battery.currency,
            event.event_id,
            event.occurred_at,
            from_reserve=battery.deposit_released,
        ),
    )


def custody_transferred(state: BatchState, event: ev.CustodyTransferredEvent) -> None:
    data = event.data
    battery = state.known(data.serial)
    if battery is None:
        raise UnknownBattery(f"battery {data.serial} is not known to the scheme")
    battery.transfer(
        Party(data.from_.kind, data.from_.id),
        Party(data.to.kind, data.to.id),
        event.occurred_at,
        event.event_id,
    )
    state.changed_batteries.add(data.serial)


def lot_dispatched(state: BatchState, event: ev.LotDispatchedEvent) -> None:
    data = event.data
    Lot.check_new(data.lot_id, state.lots.get(data.lot_id))
    centre = Party("return_centre", data.centre_id)
    Lot.check_dispatchable(centre, data.serials, state.batteries)
    lot = state.lots[data.lot_id] = Lot(
        data.lot_id, data.centre_id, data.recycler_id, IN_TRANSIT, data.gross_mass_kg, event.occurred_at
    )
    for serial in data.serials:
        lot.items[serial] = LotItem(serial, dispatched=True)
        state.changed_lot_items.add((data.lot_id, serial))
        battery = state.batteries[serial]
        battery.move("lot.dispatched", centre, event.occurred_at, event.event_id)
        battery.lot_id = data.lot_id
        state.changed_batteries.add(serial)
    state.changed_lots.add(data.lot_id)


def lot_received(state: BatchState, event: ev.LotReceivedEvent) -> None:
    data = event.data
    lot = lot_for(state.lots, data.lot_id)
    lot.check_receivable(data.recycler_id)
    recycler, received = Party("recycler", data.recycler_id), set(data.serials_received)
    for serial, item in lot.items.items():
        if serial in received and state.batteries[serial].state == BATTERY_IN_TRANSIT:
            item.received = True
            state.changed_lot_items.add((data.lot_id, serial))
            state.batteries[serial].move("lot.received", recycler, event.occurred_at, event.event_id)
            state.changed_batteries.add(serial)
        else:
            open_discrepancy(state, "missing_in_transit", serial, {"lot_id": data.lot_id}, event.event_id)
    for serial in data.serials_received:
        if serial not in lot.items:
            lot.items[serial] = LotItem(serial, dispatched=False, received=True)
            state.changed_lot_items.add((data.lot_id, serial))
            open_discrepancy(state, "unexpected_in_lot", serial, {"lot_id": data.lot_id}, event.event_id)
    if lot.mass_differs(data.gross_mass_kg):
        open_discrepancy(
            state,
            "mass_mismatch",
            data.lot_id,
            {
                "dispatched_kg": str(lot.dispatched_mass_kg),
                "received_kg": str(data.gross_mass_kg),
                "tolerance": str(MASS_TOLERANCE),
            },
            event.event_id,
        )
    lot.receive(data.gross_mass_kg, event.occurred_at)
    state.changed_lots.add(data.lot_id)


def recovery_confirmed(state: BatchState, event: ev.RecoveryConfirmedEvent) -> None:
    data = event.data
    lot = lot_for(state.lots, data.lot_id)
    lot.check_recoverable(data.recycler_id)
    recycler = Party("recycler", data.recycler_id)
    for serial, item in lot.items.items():
        battery = state.batteries.get(serial)
        if item.dispatched and item.received and battery is not None and battery.state == AT_RECYCLER:
            battery.move("recovery.confirmed", recycler, event.occurred_at, event.event_id)
            state.changed_batteries.add(serial)
    masses: dict[str, Decimal] = defaultdict(Decimal)
    for material in data.recovered:
        masses[material.material] += material.mass_kg
    state.recoveries.append(
        RecoveryRow(
            data.lot_id,
            data.recycler_id,
            data.input_mass_kg,
            data.cost,
            data.currency,
            event.event_id,
            event.occurred_at,
            data.output_mass_kg,
        )
    )
    state.recovered_materials.extend(
        RecoveredMaterialRow(data.lot_id, m, kg) for m, kg in sorted(masses.items())
    )
    post(
        state,
        postings.recovery(
            data.lot_id, data.recycler_id, data.cost, data.currency, event.event_id, event.occurred_at
        ),
    )
    lot.recover()
    state.changed_lots.add(data.lot_id)


def terms_published(state: BatchState, event: ev.TermsPublishedEvent) -> None:
    data = event.data
    terms = Terms(
        data.sku,
        data.currency,
        data.effective_from,
        data.deposit,
        data.recycling_fee,
        event.event_id,
        data.handling_fee,
        data.reuse_min_pct,
        data.repurpose_min_pct,
    )
    kept = [t for t in state.terms.get(data.sku, ()) if not terms.replaces(t)]
    state.terms[data.sku] = [*kept, terms]
    state.new_terms.append(terms)


def battery_repurposed(state: BatchState, event: ev.BatteryRepurposedEvent) -> None:
    """Contract 8.3: a collected battery the operator holds (reached by `custody.transferred` to it) is given
    its second life: state `repurposed`, custodian the operator, a row in `scheme.repurposings`. Anything
    else, a serial the scheme does not know included, is `custody_mismatch`, as the contract says."""
    data = event.data
    battery = state.known(data.serial)
    if battery is None:
        raise CustodyMismatch(
            f"battery {data.serial} is not known to the scheme: only a collected battery in the custody of "
            f"second_life:{data.operator_id} may be repurposed by it"
        )
    battery.repurpose(Party(SECOND_LIFE, data.operator_id), event.occurred_at, event.event_id)
    state.changed_batteries.add(data.serial)
    state.repurposings.append(
        RepurposingRow(data.serial, data.operator_id, data.application, event.event_id, event.occurred_at)
    )


HANDLERS = {
    "sale.recorded": sale_recorded,
    "sale.cancelled": sale_cancelled,
    "collection.logged": collection_logged,
    "custody.transferred": custody_transferred,
    "lot.dispatched": lot_dispatched,
    "lot.received": lot_received,
    "recovery.confirmed": recovery_confirmed,
    "terms.published": terms_published,
    "battery.repurposed": battery_repurposed,
}
