"""Finance closing what the scheme holds (contract 8.1): unclaimed deposits released, discrepancies resolved.

Like every handler: check everything first, then change the batch state; a
handler that raises `Rejected` has changed nothing.
"""

from __future__ import annotations

from streams.adapters.rows import ResolutionRow
from streams.domain import postings
from streams.domain.discrepancy import BATTERY_LOST, SUSPENSE_RETURNED, Discrepancy, discrepancy_for
from streams.domain.errors import ResolutionNotAllowed
from streams.domain.release import Release
from streams.domain.sale import CANCELLED, RETURNED_TO_STORE, SUSPENSE
from streams.service_layer import events_out
from streams.service_layer.state import BatchState


def deposits_released(state: BatchState, event) -> None:
    """Recorded now; the batteries it covers are found and released set-based when the batch is saved.

    A battery the batch itself changes is saved first, so the release sees it as the batch leaves it.
    """
    data = event.data
    Release.check_new(data.release_id, event.event_id, state.release_owners.get(data.release_id))
    state.release_owners[data.release_id] = event.event_id
    state.new_releases.append(
        Release(data.release_id, data.currency, data.sold_before, event.event_id, event.occurred_at)
    )


def discrepancy_resolved(state: BatchState, event) -> None:
    data = event.data
    discrepancy = discrepancy_for(state.known_discrepancies, data.discrepancy_id)
    effect = discrepancy.check_resolvable(data.resolution)
    if effect == BATTERY_LOST:
        _check_still_in_transit(state, discrepancy)
    discrepancy.resolve(data.resolution)
    if effect == BATTERY_LOST:
        battery = state.batteries[discrepancy.subject]
        battery.move("discrepancy.resolved", battery.custodian, event.occurred_at, event.event_id)
        state.changed_batteries.add(battery.serial)
    elif effect == SUSPENSE_RETURNED:
        _return_suspense(state, event, discrepancy)
    state.resolutions.append(
        ResolutionRow(
            discrepancy.discrepancy_id, data.resolution, data.note, event.event_id, event.occurred_at
        )
    )
    state.outbox.append(
        events_out.discrepancy_resolved(
            discrepancy.discrepancy_id, discrepancy.kind, data.resolution, event.event_id
        )
    )


def _check_still_in_transit(state: BatchState, discrepancy: Discrepancy) -> None:
    battery = state.known(discrepancy.subject)
    if battery is None or not battery.can("discrepancy.resolved"):
        found = "not known" if battery is None else battery.state
        raise ResolutionNotAllowed(
            f"data.resolution: battery {discrepancy.subject} is {found}; only a battery "
            f"still in transit is written off as lost"
        )


def _return_suspense(state: BatchState, event, discrepancy: Discrepancy) -> None:
    """The held money back to the store, once: unless the store's cancellation of the item reversed it."""
    sale = state.sales[discrepancy.details["sale_id"]]
    item = sale.items[discrepancy.subject]
    assert item.status in (SUSPENSE, CANCELLED), "a held item is in suspense until cancelled or returned"
    if item.status == CANCELLED:
        return
    item.status = RETURNED_TO_STORE
    state.changed_sale_items.add((sale.sale_id, item.serial))
    amount = discrepancy.held_in_suspense
    assert amount == item.deposit + item.recycling_fee, "the discrepancy holds what the item charged"
    posting = postings.suspense_returned(
        discrepancy.discrepancy_id,
        item.serial,
        sale.store_id,
        amount,
        sale.currency,
        event.event_id,
        event.occurred_at,
    )
    if posting is not None:
        state.postings.append(posting)


def unrelease(state: BatchState, event, sale, battery) -> None:
    """A released battery's sale cancelled: its deposit goes back from the reserve to the liability first, so
    the cancellation (the exact reverse of the sale posting) leaves both as they were before the sale."""
    if not battery.deposit_released:
        return
    battery.deposit_released = False
    posting = postings.release_cancelled(
        sale.sale_id,
        battery.serial,
        battery.deposit_charged,
        battery.currency,
        event.event_id,
        event.occurred_at,
    )
    if posting is not None:
        state.postings.append(posting)


HANDLERS = {
    "deposits.released": deposits_released,
    "discrepancy.resolved": discrepancy_resolved,
}
