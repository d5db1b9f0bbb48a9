"""One handler per event type: check everything first, then change the batch state.

A handler that raises `Rejected` has changed nothing.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from contracts import events as ev
from streams.domain import postings
from streams.domain.battery import AT_RECYCLER, COLLECTED, IN_TRANSIT, IN_USE, RETURNED, Party
from streams.domain.errors import (
    AlreadyReturned, CustodyMismatch, DuplicateLot, DuplicateSale, LotAlreadyReceived, LotNotReceived,
    RecoveryAlreadyConfirmed, SerialNotInSale, SourceMismatch, UnknownBattery, UnknownLot, UnknownSale,
)
from streams.adapters.rows import CollectionRow, DiscrepancyRow, RecoveredMaterialRow, RecoveryRow, RefundRow
from streams.service_layer import events_out
from streams.service_layer.state import BatchState, Lot, LotItem, Sale, SaleItem, Terms

MASS_TOLERANCE = Decimal("0.02")  # a lot's gross mass may differ by 2 % between dispatch and receipt


def open_discrepancy(state: BatchState, kind: str, subject: str, details: dict, caused_by) -> None:
    discrepancy_id = events_out.stable_id("discrepancy", kind, subject, caused_by)
    state.discrepancies.append(DiscrepancyRow(discrepancy_id, kind, subject, details, caused_by))
    state.outbox.append(events_out.discrepancy_opened(discrepancy_id, kind, subject, details, caused_by))


def post(state: BatchState, posting) -> None:
    if posting is not None:
        state.postings.append(posting)  # sent to the ledger together, once the batch is applied


def sale_recorded(state: BatchState, event: ev.SaleRecordedEvent) -> None:
    data, at = event.data, event.occurred_at
    if data.sale_id in state.sales:
        raise DuplicateSale(f"sale {data.sale_id} was already recorded by event {state.sales[data.sale_id].event_id}")
    customer = Party("customer", data.customer_ref or f"sale:{data.sale_id}")
    sale = state.sales[data.sale_id] = Sale(data.sale_id, data.store_id, data.currency, at, event.event_id, {})
    state.changed_sales.add(data.sale_id)
    for item in data.items:
        battery = state.battery(item.serial)
        suspense = battery.state is not None
        sale.items[item.serial] = SaleItem(item.serial, item.sku, item.category, item.chemistry, item.mass_kg,
                                           item.deposit, item.recycling_fee, item.contract,
                                           "suspense" if suspense else "in_market")
        state.changed_sale_items.add((data.sale_id, item.serial))
        post(state, postings.sale_item(data.sale_id, data.store_id, item.serial, item.contract, item.deposit,
                                       item.recycling_fee, data.currency, event.event_id, at, suspense))
        if suspense:
            open_discrepancy(state, "serial_already_in_market", item.serial,
                             {"sale_id": data.sale_id, "store_id": data.store_id, "state": battery.state,
                              "held_in_suspense": item.deposit + item.recycling_fee}, event.event_id)
            continue
        _check_terms(state, event, item)
        battery.move("sale.recorded", customer, at, event.event_id)
        battery.contract, battery.sku, battery.category = item.contract, item.sku, item.category
        battery.chemistry, battery.mass_kg, battery.currency = item.chemistry, item.mass_kg, data.currency
        battery.deposit_charged, battery.recycling_fee = item.deposit, item.recycling_fee
        battery.sale_id, battery.store_id, battery.sold_at = data.sale_id, data.store_id, at
        state.changed_batteries.add(item.serial)


def _check_terms(state: BatchState, event, item) -> None:
    terms = state.terms_in_force(item.sku, event.data.currency, event.occurred_at)
    if terms is None:
        return
    differs = item.recycling_fee != terms.recycling_fee or (
        item.contract == "deposit" and item.deposit != terms.deposit)
    if differs:
        open_discrepancy(state, "amount_differs_from_terms", item.serial, {
            "sku": item.sku, "contract": item.contract, "charged_deposit": item.deposit,
            "charged_recycling_fee": item.recycling_fee, "terms_deposit": terms.deposit,
            "terms_recycling_fee": terms.recycling_fee, "terms_effective_from": terms.effective_from.isoformat(),
        }, event.event_id)


def sale_cancelled(state: BatchState, event: ev.SaleCancelledEvent) -> None:
    data = event.data
    sale = state.sales.get(data.sale_id)
    if sale is None:
        raise UnknownSale(f"sale {data.sale_id} is not known")
    if sale.store_id != data.store_id:
        raise SourceMismatch(f"data.store_id: sale {data.sale_id} was recorded by store {sale.store_id}")
    missing = [s for s in data.serials if s not in sale.items]
    if missing:
        raise SerialNotInSale(f"not in sale {data.sale_id}: {', '.join(missing)}")
    gone = [s for s in data.serials if sale.items[s].status == "cancelled" or (
        sale.items[s].status == "in_market" and state.batteries[s].state != IN_USE)]
    if gone:
        raise AlreadyReturned(f"no longer in use or already cancelled: {', '.join(gone)}")
    customer_to = Party("pos", data.store_id)  # the goods go back to the store
    for serial in data.serials:
        item = sale.items[serial]
        original = postings.sale_item(sale.sale_id, sale.store_id, serial, item.contract, item.deposit,
                                      item.recycling_fee, sale.currency, sale.event_id, sale.occurred_at,
                                      item.status == "suspense")
        if original is not None:
            post(state, postings.cancellation(original, event.event_id, event.occurred_at, sale.sale_id))
        if item.status == "in_market":
            state.batteries[serial].move("sale.cancelled", customer_to, event.occurred_at, event.event_id)
            state.changed_batteries.add(serial)
        item.status = "cancelled"
        state.changed_sale_items.add((sale.sale_id, serial))
    state.changed_sales.add(sale.sale_id)


def collection_logged(state: BatchState, event: ev.CollectionLoggedEvent) -> None:
    data = event.data
    battery = state.battery(data.serial)
    if battery.state in RETURNED:
        raise AlreadyReturned(f"battery {data.serial} is already {battery.state}")
    was, contract = battery.state, battery.contract
    battery.move("collection.logged", Party("return_centre", data.centre_id), event.occurred_at, event.event_id)
    battery.collected_at = event.occurred_at
    state.changed_batteries.add(data.serial)
    outcome = "taken_back_free"
    if was == IN_USE and contract == "lease":
        outcome = "lease_closed"
    elif was == IN_USE:
        outcome = "refunded"
        _refund(state, event, battery)
    state.collections.append(CollectionRow(event.event_id, data.collection_id, data.serial, data.centre_id,
                                           data.condition, data.mass_kg, outcome, event.occurred_at))


def _refund(state: BatchState, event, battery) -> None:
    data, amount = event.data, battery.deposit_charged
    method = data.refund.method if data.refund else "cash"
    payee_ref = data.refund.payee_ref if data.refund else None
    refund_id = events_out.stable_id("refund", event.event_id)
    battery.deposit_refunded = amount
    state.refunds.append(RefundRow(refund_id, data.serial, data.centre_id, amount, battery.currency, method,
                                   payee_ref, event.event_id, event.occurred_at))
    state.outbox.append(events_out.refund_instructed(refund_id, data.serial, data.centre_id, amount,
                                                     battery.currency, method, payee_ref, event.event_id))
    post(state, postings.refund(data.serial, data.centre_id, amount, battery.currency, event.event_id,
                                event.occurred_at))


def custody_transferred(state: BatchState, event: ev.CustodyTransferredEvent) -> None:
    data = event.data
    battery = state.known(data.serial)
    if battery is None:
        raise UnknownBattery(f"battery {data.serial} is not known to the scheme")
    battery.transfer(Party(data.from_.kind, data.from_.id), Party(data.to.kind, data.to.id),
                     event.occurred_at, event.event_id)
    state.changed_batteries.add(data.serial)


def lot_dispatched(state: BatchState, event: ev.LotDispatchedEvent) -> None:
    data = event.data
    if data.lot_id in state.lots:
        raise DuplicateLot(f"lot {data.lot_id} was already dispatched")
    centre = Party("return_centre", data.centre_id)
    wrong = [s for s in data.serials
             if (b := state.known(s)) is None or b.state != COLLECTED or b.custodian != centre]
    if wrong:
        shown = ", ".join(wrong[:50]) + (f" and {len(wrong) - 50} more" if len(wrong) > 50 else "")
        raise CustodyMismatch(f"not collected and in the custody of {data.centre_id}: {shown}")
    lot = state.lots[data.lot_id] = Lot(data.lot_id, data.centre_id, data.recycler_id, "in_transit",
                                        data.gross_mass_kg, event.occurred_at)
    for serial in data.serials:
        lot.items[serial] = LotItem(serial, dispatched=True)
        state.changed_lot_items.add((data.lot_id, serial))
        battery = state.batteries[serial]
        battery.move("lot.dispatched", centre, event.occurred_at, event.event_id)
        battery.lot_id = data.lot_id
        state.changed_batteries.add(serial)
    state.changed_lots.add(data.lot_id)


def _lot_of(state: BatchState, lot_id: str, recycler_id: str) -> Lot:
    lot = state.lots.get(lot_id)
    if lot is None:
        raise UnknownLot(f"lot {lot_id} was never dispatched")
    if lot.recycler_id != recycler_id:
        raise SourceMismatch(f"data.recycler_id: lot {lot_id} was dispatched to {lot.recycler_id}")
    return lot


def lot_received(state: BatchState, event: ev.LotReceivedEvent) -> None:
    data = event.data
    lot = _lot_of(state, data.lot_id, data.recycler_id)
    if lot.status != "in_transit":
        raise LotAlreadyReceived(f"lot {data.lot_id} is already {lot.status}")
    recycler, received = Party("recycler", data.recycler_id), set(data.serials_received)
    for serial, item in lot.items.items():
        if serial in received and state.batteries[serial].state == IN_TRANSIT:
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
    off = abs(data.gross_mass_kg - lot.dispatched_mass_kg)
    if off > lot.dispatched_mass_kg * MASS_TOLERANCE:
        open_discrepancy(state, "mass_mismatch", data.lot_id, {
            "dispatched_kg": str(lot.dispatched_mass_kg), "received_kg": str(data.gross_mass_kg),
            "tolerance": str(MASS_TOLERANCE)}, event.event_id)
    lot.status, lot.received_mass_kg, lot.received_at = "received", data.gross_mass_kg, event.occurred_at
    state.changed_lots.add(data.lot_id)


def recovery_confirmed(state: BatchState, event: ev.RecoveryConfirmedEvent) -> None:
    data = event.data
    lot = _lot_of(state, data.lot_id, data.recycler_id)
    if lot.status == "in_transit":
        raise LotNotReceived(f"lot {data.lot_id} has not been received")
    if lot.status == "recovered":
        raise RecoveryAlreadyConfirmed(f"recovery of lot {data.lot_id} was already confirmed")
    recycler = Party("recycler", data.recycler_id)
    for serial, item in lot.items.items():
        battery = state.batteries.get(serial)
        if item.dispatched and item.received and battery is not None and battery.state == AT_RECYCLER:
            battery.move("recovery.confirmed", recycler, event.occurred_at, event.event_id)
            state.changed_batteries.add(serial)
    masses: dict[str, Decimal] = defaultdict(Decimal)
    for material in data.recovered:
        masses[material.material] += material.mass_kg
    state.recoveries.append(RecoveryRow(data.lot_id, data.recycler_id, data.input_mass_kg, data.cost, data.currency,
                                        event.event_id, event.occurred_at))
    state.recovered_materials.extend(RecoveredMaterialRow(data.lot_id, m, kg) for m, kg in sorted(masses.items()))
    post(state, postings.recovery(data.lot_id, data.recycler_id, data.cost, data.currency, event.event_id,
                                  event.occurred_at))
    lot.status = "recovered"
    state.changed_lots.add(data.lot_id)


def terms_published(state: BatchState, event: ev.TermsPublishedEvent) -> None:
    data = event.data
    terms = Terms(data.sku, data.currency, data.effective_from, data.deposit, data.recycling_fee, event.event_id)
    kept = [t for t in state.terms.get(data.sku, ()) if
            (t.currency, t.effective_from) != (terms.currency, terms.effective_from)]
    state.terms[data.sku] = [*kept, terms]
    state.new_terms.append(terms)


HANDLERS = {
    "sale.recorded": sale_recorded,
    "sale.cancelled": sale_cancelled,
    "collection.logged": collection_logged,
    "custody.transferred": custody_transferred,
    "lot.dispatched": lot_dispatched,
    "lot.received": lot_received,
    "recovery.confirmed": recovery_confirmed,
    "terms.published": terms_published,
}
