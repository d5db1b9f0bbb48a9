"""Random but plausible lives of a few hundred batteries, checked against a reference model.

Events go out in rounds: round r holds the r-th step of every battery's life.
The steps of one round touch disjoint batteries, sales and lots, so their
order across topics does not matter; each round is applied before the next.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from contracts import topics
from tests.conftest import envelope, unique, wait_for
from tests.integration.scheme import Scheme, item

CANONICAL = ["collect", "dispatch", "receive", "recover"]
EXTRA = ["collect", "cancel", "resale", "transfer", "dispatch", "receive", "recover", "dup", "bad_json", "bad_schema"]
RETURNED = ("collected", "in_transit", "at_recycler", "recycled")


@st.composite
def life(draw):
    origin = draw(st.sampled_from(["deposit", "deposit", "lease", "orphan"]))
    steps = CANONICAL[: draw(st.integers(0, len(CANONICAL)))]
    for extra in draw(st.lists(st.sampled_from(EXTRA), max_size=2)):
        steps.insert(draw(st.integers(0, len(steps))), extra)
    return origin, (["sale"] if origin != "orphan" else []) + steps


@dataclass
class Model:
    """The contract's rules for one battery, written plainly."""
    origin: str
    state: str | None = None
    custodian: tuple[str, str] | None = None
    refunds: int = 0
    lot: str | None = None
    resales: int = 0
    sale_recorded: bool = False
    in_market_by: str | None = None  # "sale" (the first) or "resale": the sale the battery is in use under
    sent: list[dict] = field(default_factory=list)

    def apply(self, step: str, centre: str, recycler: str, store: str, customer: str) -> str | None:
        """Return the rejection reason, or None when the step applies."""
        if step in ("sale", "resale"):
            self.sale_recorded = self.sale_recorded or step == "sale"
            if self.state in (None, "cancelled"):  # new, or its sale cancelled: it (re-)enters the market
                self.state, self.custodian, self.in_market_by = "in_use", ("customer", customer), step
            # any other state: held in suspense (serial_already_in_market), the event still applies
        elif step == "cancel":  # always of the first sale
            if not self.sale_recorded:
                return "unknown_sale"
            if self.state != "in_use" or self.in_market_by != "sale":
                return "already_returned"
            self.state, self.custodian, self.in_market_by = "cancelled", ("pos", store), None
        elif step == "collect":
            if self.state in RETURNED:
                return "already_returned"
            self.refunds += self.state == "in_use" and self.origin != "lease"  # an orphan's resale is a deposit
            self.state, self.custodian = "collected", ("return_centre", centre)
        elif step == "transfer":
            if self.state is None:
                return "unknown_battery"
            self.custodian = ("transporter", "haul-1")
        elif step == "dispatch":
            if self.lot is not None:
                return "duplicate_lot"
            if self.state != "collected" or self.custodian != ("return_centre", centre):
                return "custody_mismatch"
            self.state, self.lot = "in_transit", "in_transit"
        elif step == "receive":
            if self.lot is None:
                return "unknown_lot"
            if self.lot != "in_transit":
                return "lot_already_received"
            self.state, self.custodian, self.lot = "at_recycler", ("recycler", recycler), "received"
        elif step == "recover":
            if self.lot is None:
                return "unknown_lot"
            if self.lot == "in_transit":
                return "lot_not_received"
            if self.lot == "recovered":
                return "recovery_already_confirmed"
            self.state, self.custodian, self.lot = "recycled", ("recycler", recycler), "recovered"
        elif step == "bad_schema":
            return "schema_violation"
        return None


@hypothesis_settings(max_examples=3, deadline=None, derandomize=False,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lives=st.lists(life(), min_size=150, max_size=250))
async def test_random_lives_end_as_the_reference_model_says(lives, producer, pool):
    scheme = Scheme(producer, pool)
    batteries = [(unique("BAT"), unique("S"), unique("L"), Model(origin)) for origin, _ in lives]
    expected: dict[str, tuple[str, str | None]] = {}
    garbage = unique("garbage")
    garbage_sent = 0
    for round_ in range(max(len(steps) for _, steps in lives)):
        waiting = []
        for (serial, sale_id, lot_id, model), (_, steps) in zip(batteries, lives):
            if round_ >= len(steps):
                continue
            step = steps[round_]
            if step == "bad_json":
                await producer.send(topics.COLLECTIONS, f"{{{garbage}".encode(), key=serial.encode())
                garbage_sent += 1
                continue
            if step == "dup":
                if model.sent:
                    await scheme.emit(model.sent[-1])
                continue
            if step == "resale":
                model.resales += 1
            this_sale = sale_id if step != "resale" else f"{sale_id}-R{model.resales}"
            event = build(scheme, step, serial, this_sale, lot_id, model)
            reason = model.apply(step, scheme.centre, scheme.recycler, scheme.store, f"sale:{this_sale}")
            expected[event["event_id"]] = ("applied", None) if reason is None else ("rejected", reason)
            model.sent.append(event)
            await scheme.emit(event)
            waiting.append(uuid.UUID(event["event_id"]))
        await producer.flush()
        await wait_for(lambda: _all_in_inbox(pool, waiting))

    rows = await pool.fetch("SELECT event_id, outcome, reason FROM scheme.inbox WHERE event_id = ANY($1::uuid[])",
                            [uuid.UUID(e) for e in expected])
    assert {str(r["event_id"]): (r["outcome"], r["reason"]) for r in rows} == expected
    serials = [b[0] for b in batteries]
    actual = {r["serial"]: (r["state"], (r["custodian_kind"], r["custodian_id"])) for r in await pool.fetch(
        "SELECT serial, state, custodian_kind, custodian_id FROM scheme.batteries WHERE serial = ANY($1)", serials)}
    assert actual == {s: (m.state, m.custodian) for s, _, _, m in batteries if m.state is not None}
    refunds = {r["serial"]: r["count"] for r in await pool.fetch(
        "SELECT serial, count(*) FROM scheme.refunds WHERE serial = ANY($1) GROUP BY serial", serials)}
    assert refunds == {s: m.refunds for s, _, _, m in batteries if m.refunds}
    await wait_for(lambda: _garbage_rejected(pool, garbage, garbage_sent))


def build(scheme: Scheme, step: str, serial: str, sale_id: str, lot_id: str, model: Model) -> dict:
    s = scheme
    if step in ("sale", "resale"):
        contract = "lease" if model.origin == "lease" else "deposit"
        data = {"sale_id": sale_id, "store_id": s.store, "currency": "EUR",
                "items": [item(serial, deposit=0 if contract == "lease" else 5000, contract=contract)]}
        return envelope("sale.recorded", "pos", s.store, data)
    if step == "cancel":
        data = {"sale_id": sale_id, "store_id": s.store, "serials": [serial], "reason": "customer_withdrew"}
        return envelope("sale.cancelled", "pos", s.store, data)
    if step in ("collect", "bad_schema"):
        data = {"collection_id": unique("C"), "centre_id": s.centre, "serial": serial, "condition": "damaged"}
        if step == "bad_schema":
            data["mass_kg"] = "2.7"
        return envelope("collection.logged", "return_centre", s.centre, data)
    if step == "transfer":
        kind, id_ = model.custodian or ("transporter", "nobody")
        data = {"serial": serial, "from": {"kind": kind, "id": id_}, "to": {"kind": "transporter", "id": "haul-1"},
                "reason": "transport"}
        return envelope("custody.transferred", "transporter", "haul-1", data)
    if step == "dispatch":
        data = {"lot_id": lot_id, "centre_id": s.centre, "recycler_id": s.recycler, "serials": [serial],
                "gross_mass_kg": 3.0}
        return envelope("lot.dispatched", "return_centre", s.centre, data)
    if step == "receive":
        data = {"lot_id": lot_id, "recycler_id": s.recycler, "serials_received": [serial], "gross_mass_kg": 3.0}
        return envelope("lot.received", "recycler", s.recycler, data)
    assert step == "recover", step
    data = {"lot_id": lot_id, "recycler_id": s.recycler, "input_mass_kg": 3.0, "cost": 150, "currency": "EUR",
            "recovered": [{"material": "nickel", "mass_kg": 0.4}]}
    return envelope("recovery.confirmed", "recycler", s.recycler, data)


async def _all_in_inbox(pool, ids: list[uuid.UUID]) -> bool:
    return await pool.fetchval("SELECT count(*) FROM scheme.inbox WHERE event_id = ANY($1::uuid[])", ids) == len(ids)


async def _garbage_rejected(pool, marker: str, sent: int) -> bool:
    count = await pool.fetchval(
        "SELECT count(*) FROM scheme.outbox WHERE topic = $1 AND position($2 in convert_from(value, 'UTF8')) > 0",
        topics.REJECTIONS, marker.encode().decode())
    return count == sent
