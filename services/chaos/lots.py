"""The stages of a lot's life in a chaos run: out of the centre, to the transporter, to the recycler,
recovered. Each plans its events and moves the model on, for its own chunk's batteries only."""

from __future__ import annotations

from dataclasses import replace

from contracts.accounts import recycler_payable
from services.chaos import bad_events
from services.chaos.model import APPLIED, LotModel, recovery_entry, rejected
from services.chaos.plan import Planned, planned
from services.chaos.stages import collect, route

COST_PER_KG = 150  # minor units the recycler charges per kilogram of input


def lots_out(s, chunk: int) -> list[Planned]:
    """One lot per centre of the chunk's collected batteries; then what came back after a cancellation."""
    out = []
    for centre in s.world.centres:
        held = [b for b in s.chunk_batteries(chunk, "collected") if b.centre == centre]
        if held:
            out.append(_dispatch(s, chunk, centre, held))
    late = [b for b in s.chunk_batteries(chunk, "cancelled") if s.rng.random() < 0.5]
    out += [collect(s, b) for b in late]
    gone = [b for b in s.chunk_batteries(chunk, "in_transit") if b.item is not None]
    if gone:  # a battery returned twice: nothing is refunded twice
        out.append(collect(s, s.rng.choice(gone), expected=rejected("already_returned")))
    return out + bad_events.of_lots_out(s, chunk)


def _dispatch(s, chunk: int, centre: str, held: list) -> Planned:
    lot_id = f"{s.world.run}-L{chunk:04d}-{centre[-1]}"
    serials = tuple(b.serial for b in held)
    mass = round(sum(b.mass_kg for b in held), 1)
    data = {
        "lot_id": lot_id,
        "centre_id": centre,
        "recycler_id": s.world.recycler,
        "serials": list(serials),
        "gross_mass_kg": mass,
    }
    event = planned("lot.dispatched", "return_centre", centre, data, APPLIED, route(s))
    s.lots.setdefault(chunk, []).append(LotModel(lot_id, centre, serials, mass, data))
    for battery in held:
        s.batteries[battery.serial] = replace(battery, state="in_transit")
    return event


def transport(s, chunk: int) -> list[Planned]:
    """The transporter takes each lot's batteries from the centre."""
    out = []
    for lot in s.lots.get(chunk, []):
        for serial in lot.serials:
            out.append(
                planned(
                    "custody.transferred",
                    "transporter",
                    s.world.transporter,
                    {
                        "serial": serial,
                        "from": {"kind": "return_centre", "id": lot.centre},
                        "to": {"kind": "transporter", "id": s.world.transporter},
                        "reason": "transport",
                    },
                    APPLIED,
                )
            )
    return out + bad_events.of_transport(s, chunk)


def receipts(s, chunk: int) -> list[Planned]:
    """The recycler receives each lot; the chunk's first lot arrives one battery short."""
    out, lots = [], s.lots.get(chunk, [])
    for index, lot in enumerate(lots):
        received = lot.serials[:-1] if index == 0 and len(lot.serials) > 1 else lot.serials
        mass = round(sum(s.batteries[x].mass_kg for x in received), 1)
        out.append(
            planned(
                "lot.received",
                "recycler",
                s.world.recycler,
                {
                    "lot_id": lot.lot_id,
                    "recycler_id": s.world.recycler,
                    "serials_received": list(received),
                    "gross_mass_kg": mass,
                },
                APPLIED,
            )
        )
        lots[index] = replace(lot, received=received)
        for serial in received:
            s.batteries[serial] = replace(s.batteries[serial], state="at_recycler")
    return out


def recoveries(s, chunk: int) -> list[Planned]:
    out = []
    for lot in s.lots.get(chunk, []):
        input_kg = round(sum(s.batteries[x].mass_kg for x in lot.received), 1)
        cost = int(input_kg * COST_PER_KG)
        event = planned(
            "recovery.confirmed",
            "recycler",
            s.world.recycler,
            {
                "lot_id": lot.lot_id,
                "recycler_id": s.world.recycler,
                "input_mass_kg": input_kg,
                "cost": cost,
                "currency": "EUR",
                "recovered": [{"material": "nickel", "mass_kg": round(0.1 * input_kg, 3) or 0.001}],
            },
            APPLIED,
        )
        s.expect.post(recovery_entry(event.event_id, lot.lot_id, s.world.recycler, cost))
        s.expect.accounts.add(recycler_payable(s.world.recycler))
        for serial in lot.received:
            s.batteries[serial] = replace(s.batteries[serial], state="recycled")
        out.append(event)
    return out
