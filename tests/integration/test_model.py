"""Random but plausible lives of a few hundred batteries, checked against a reference model.

Events go out in rounds: round r holds the r-th step of every battery's life.
The steps of one round touch disjoint batteries, sales and lots, so their
order across topics does not matter; each round is applied before the next.
Between rounds finance may release the unclaimed deposits of the run's own
currency (contract 8.1): every battery then in use under a deposit is
released, and a later refund comes from the reserve. A battery's `resolve`
step resolves its oldest open discrepancy as its kind allows (`misresolve`
tries another resolution); `lose` is a receipt that leaves the battery out
(missing in transit), which `resolve` writes off as lost. Between rounds
finance may also record a payment (contract 8.1) from the store, to the
centre or to the recycler: part of what is owed, all of it, or more (the
excess opens an `overpayment`), sent twice, then once more under the same
`payment_id` by another event (`duplicate_payment`): each payment moves the
money once, whatever the duplicates.

Contract 8.3: every collection is graded (a condition, and a state of health or
none) and routed by the thresholds of its sku's terms, drawn per run: one sku
has the drawn pair, the other the same pair the other way round (the contract
sets no order between them, so repurpose is above reuse for one); a life may
take a second life (its collected battery handed to a second-life operator,
repurposed, then collected again, free), and `to_operator` and `repurpose` steps
also come at random, where the scheme must refuse what the model refuses. Each
applied collection's route is kept and sent out once, none for a rejected one.
"""

from __future__ import annotations

import json
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from contracts import topics
from services.common.ids import stable_id
from tests.conftest import envelope, send, unique, wait_for
from tests.integration.scheme import Scheme, item

CANONICAL = ["collect", "dispatch", "receive", "recover"]
EXTRA = [
    "collect",
    "cancel",
    "resale",
    "transfer",
    "dispatch",
    "receive",
    "recover",
    "dup",
    "bad_json",
    "bad_schema",
    "resolve",
    "to_operator",
    "repurpose",
]
SECOND_LIFE = ["to_operator", "repurpose", "collect"]  # after a collection: repurposed, then taken back free
OPERATOR = ("second_life", "op-model")
CONDITIONS = ["functional", "damaged", "defective", "hazardous"]
RETURNED = ("collected", "in_transit", "at_recycler", "recycled", "lost")  # a repurposed one comes back
RESOLUTION_OF = {"serial_already_in_market": "returned_to_store", "missing_in_transit": "written_off"}
FINANCE = "finance-model"


DEFAULT_THRESHOLDS = (65, 85)  # repurpose, reuse: contract 8.3's defaults, for a sku without terms
AT_THRESHOLD = ["at_repurpose", "at_reuse", "below_repurpose", "below_reuse"]  # the run's, once drawn
# The run's two skus: the first has the drawn (repurpose, reuse), the second the same two the other way round,
# so a run whose two differ always has a sku whose repurpose threshold is above its reuse one (contract 8.3
# sets no order; reuse is checked first). Batteries alternate between them.
SKUS = ("EB-500", "EB-501")


def thresholds_of_skus(thresholds: tuple[int, int]) -> dict[str, tuple[int, int]]:
    repurpose_min, reuse_min = thresholds
    return {SKUS[0]: (repurpose_min, reuse_min), SKUS[1]: (reuse_min, repurpose_min)}


def at_thresholds(grades: list, thresholds: tuple[int, int]) -> list[tuple[str, int | None]]:
    """A state of health drawn as one of AT_THRESHOLD is the run's threshold, or one below it (each edge of
    "at or above" is tried, whatever thresholds the run drew)."""
    repurpose_min, reuse_min = thresholds
    exact = {
        "at_repurpose": repurpose_min,
        "at_reuse": reuse_min,
        "below_repurpose": max(repurpose_min - 1, 0),
        "below_reuse": max(reuse_min - 1, 0),
    }
    return [(condition, exact.get(health, health)) for condition, health in grades]


def route(condition: str, health: int | None, repurpose_min: int, reuse_min: int) -> str:
    """Contract 8.3's route of a collection, written plainly."""
    if condition in ("hazardous", "defective"):
        return "recycle"
    if health is None:
        return "inspect"
    if health >= reuse_min:
        return "reuse"
    return "repurpose" if health >= repurpose_min else "recycle"


@st.composite
def life(draw):
    origin = draw(st.sampled_from(["deposit", "deposit", "lease", "orphan"]))
    steps = CANONICAL[: draw(st.integers(0, len(CANONICAL)))]
    if "receive" in steps and draw(st.integers(0, 3)) == 0:  # its lot received without it
        steps[steps.index("receive")] = "lose"
    for extra in draw(st.lists(st.sampled_from(EXTRA), max_size=2)):
        steps.insert(draw(st.integers(0, len(steps))), extra)
    if "collect" in steps and draw(st.integers(0, 2)) == 0:  # a second life after its first collection
        after = steps.index("collect") + 1
        steps[after:after] = SECOND_LIFE
    opener = next((i for i, step in enumerate(steps) if step in ("resale", "lose")), None)
    if opener is not None and draw(st.integers(0, 3)) > 0:  # finance resolves what it opened, mostly rightly
        how = draw(st.sampled_from(["resolve", "resolve", "misresolve"]))
        steps.insert(draw(st.integers(opener + 1, len(steps))), how)
    grades = [
        (
            draw(st.sampled_from(CONDITIONS)),
            draw(st.none() | st.integers(0, 100) | st.sampled_from(AT_THRESHOLD)),
        )
        for step in steps
        if step == "collect"
    ]
    return origin, (["sale"] if origin != "orphan" else []) + steps, grades


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
    released: bool = False  # its deposit moved to the reserve by a release
    refunded_from_reserve: bool = False
    received: bool = False  # its lot's receipt named it
    discrepancies: list[list] = field(default_factory=list)  # [discrepancy_id, kind, resolution or None]
    grades: list[tuple[str, int | None]] = field(default_factory=list)  # of its collections, in order
    graded: int = 0  # the collections built so far
    routes: list[tuple[str, str]] = field(default_factory=list)  # (collection event id, route) applied
    repurposings: int = 0
    sold: bool = False  # a sale put it in the market: the scheme knows its sku (routed by its terms)
    sku: str = SKUS[0]  # what its sales name

    def release(self) -> None:
        """A release between rounds: a deposit in use, not yet released, moves to the reserve."""
        if self.state == "in_use" and self.origin != "lease" and not self.released:
            self.released = True

    def opens(self, step: str, serial: str, event_id: str) -> None:
        """The discrepancy this step opens, as the scheme names it (before `apply` changes the state)."""
        kind = None
        if step in ("sale", "resale") and self.state not in (None, "cancelled"):
            kind = "serial_already_in_market"
        elif step == "lose" and self.lot == "in_transit":
            kind = "missing_in_transit"
        if kind is not None:
            self.discrepancies.append([stable_id("discrepancy", kind, serial, event_id), kind, None])

    def to_resolve(self, wrong: bool) -> tuple[str, str]:
        """The discrepancy a resolve step names (its oldest open one, else its last, else none), and how."""
        open_ = [d for d in self.discrepancies if d[2] is None]
        target = open_[0] if open_ else (self.discrepancies[-1] if self.discrepancies else None)
        if target is None:
            return str(uuid.uuid4()), "accepted"
        resolution = RESOLUTION_OF[target[1]]
        return target[0], ("accepted" if wrong else resolution)

    def resolve(self, discrepancy_id: str, resolution: str) -> str | None:
        found = next((d for d in self.discrepancies if d[0] == discrepancy_id), None)
        if found is None:
            return "unknown_discrepancy"
        if found[2] is not None:
            return "already_resolved"
        if resolution != RESOLUTION_OF[found[1]]:
            return "resolution_not_allowed"
        if found[1] == "missing_in_transit":
            if self.state != "in_transit":
                return "resolution_not_allowed"
            self.state = "lost"
        found[2] = resolution
        return None

    def apply(self, step: str, centre: str, recycler: str, store: str, customer: str) -> str | None:
        """Return the rejection reason, or None when the step applies."""
        if step in ("sale", "resale"):
            self.sale_recorded = self.sale_recorded or step == "sale"
            if self.state in (None, "cancelled"):  # new, or its sale cancelled: it (re-)enters the market
                self.state, self.custodian, self.in_market_by = "in_use", ("customer", customer), step
                self.sold = True
                self.released = False
            # any other state: held in suspense (serial_already_in_market), the event still applies
        elif step == "cancel":  # always of the first sale
            if not self.sale_recorded:
                return "unknown_sale"
            if self.state != "in_use" or self.in_market_by != "sale":
                return "already_returned"
            self.state, self.custodian, self.in_market_by = "cancelled", ("pos", store), None
            self.released = False  # a released deposit goes back to the liability, then the sale is reversed
        elif step == "collect":
            if self.state in RETURNED:
                return "already_returned"
            refunded = self.state == "in_use" and self.origin != "lease"  # an orphan's resale is a deposit
            self.refunds += refunded
            if refunded:  # a collection after a second life is free: the first one said where it came from
                self.refunded_from_reserve = self.released
            self.state, self.custodian = "collected", ("return_centre", centre)
        elif step == "transfer":
            if self.state is None:
                return "unknown_battery"
            self.custodian = ("transporter", "haul-1")
        elif step == "to_operator":
            if self.state is None:
                return "unknown_battery"
            self.custodian = OPERATOR
        elif step == "repurpose":  # only a collected battery the operator holds; anything else, unknown too
            if self.state != "collected" or self.custodian != OPERATOR:
                return "custody_mismatch"
            self.state = "repurposed"
            self.repurposings += 1
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
            self.received = True
        elif step == "lose":  # the lot is received without it: missing in transit, it stays in_transit
            if self.lot is None:
                return "unknown_lot"
            if self.lot != "in_transit":
                return "lot_already_received"
            self.lot = "received"
        elif step == "recover":
            if self.lot is None:
                return "unknown_lot"
            if self.lot == "in_transit":
                return "lot_not_received"
            if self.lot == "recovered":
                return "recovery_already_confirmed"
            self.lot = "recovered"
            if self.received:  # a battery missing from its lot is not recycled with it
                self.state, self.custodian = "recycled", ("recycler", recycler)
        elif step == "bad_schema":
            return "schema_violation"
        return None


@hypothesis_settings(
    max_examples=3,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    lives=st.lists(life(), min_size=150, max_size=250),
    # repurpose, reuse of the first sku (the second has them swapped): each drawn on its own, any order
    thresholds=st.tuples(st.integers(0, 100), st.integers(0, 100)),
    releases=st.lists(st.booleans(), min_size=8, max_size=8),
    payments=st.lists(
        st.tuples(st.sampled_from(["store", "centre", "recycler"]), st.sampled_from(["part", "all", "over"])),
        min_size=0,
        max_size=8,
    ),
)
async def test_random_lives_end_as_the_reference_model_says(
    lives, thresholds, releases, payments, producer, pool
):
    scheme = Scheme(producer, pool)
    currency = "M" + "".join(string.ascii_uppercase[d % 26] for d in uuid.uuid4().bytes[:2])  # the run's own
    by_sku = thresholds_of_skus(thresholds)
    for sku, (repurpose_min, reuse_min) in by_sku.items():
        await run_terms(scheme, currency, sku, repurpose_min, reuse_min)
    batteries = [
        (
            unique("BAT"),
            unique("S"),
            unique("L"),
            Model(origin, grades=at_thresholds(grades, by_sku[SKUS[i % 2]]), sku=SKUS[i % 2]),
        )
        for i, (origin, _, grades) in enumerate(lives)
    ]
    expected: dict[str, tuple[str, str | None]] = {}
    garbage = unique("garbage")
    garbage_sent = 0
    paid: list[tuple[str, int, int]] = []  # (payment_id, amount, excess the model expects)
    for round_ in range(max(len(steps) for _, steps, _ in lives)):
        waiting = []
        for (serial, sale_id, lot_id, model), (_, steps, _) in zip(batteries, lives):
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
            if step in ("resolve", "misresolve"):
                event, reason = resolution(model, step == "misresolve")
            else:
                if step == "resale":
                    model.resales += 1
                this_sale = sale_id if step != "resale" else f"{sale_id}-R{model.resales}"
                event = build(scheme, step, serial, this_sale, lot_id, model, currency)
                model.opens(step, serial, event["event_id"])
                reason = model.apply(step, scheme.centre, scheme.recycler, scheme.store, f"sale:{this_sale}")
                if step == "collect" and reason is None:
                    condition, health = model.grades[model.graded - 1]
                    by = by_sku[model.sku] if model.sold else DEFAULT_THRESHOLDS  # an orphan: the contract's
                    model.routes.append((event["event_id"], route(condition, health, *by)))
            expected[event["event_id"]] = ("applied", None) if reason is None else ("rejected", reason)
            model.sent.append(event)
            await scheme.emit(event)
            waiting.append(uuid.UUID(event["event_id"]))
        await producer.flush()
        await wait_for(lambda ids=waiting: _all_in_inbox(pool, ids))
        if round_ < len(releases) and releases[round_]:
            expected.update(await release(scheme, currency, [m for _, _, _, m in batteries]))
        if round_ < len(payments):
            expected.update(await payment(scheme, currency, *payments[round_], paid))

    rows = await pool.fetch(
        "SELECT event_id, outcome, reason FROM scheme.inbox WHERE event_id = ANY($1::uuid[])",
        [uuid.UUID(e) for e in expected],
    )
    assert {str(r["event_id"]): (r["outcome"], r["reason"]) for r in rows} == expected
    serials = [b[0] for b in batteries]
    actual = {
        r["serial"]: (r["state"], (r["custodian_kind"], r["custodian_id"]))
        for r in await pool.fetch(
            "SELECT serial, state, custodian_kind, custodian_id FROM scheme.batteries WHERE serial = ANY($1)",
            serials,
        )
    }
    assert actual == {s: (m.state, m.custodian) for s, _, _, m in batteries if m.state is not None}
    refunds = {
        r["serial"]: r["count"]
        for r in await pool.fetch(
            "SELECT serial, count(*) FROM scheme.refunds WHERE serial = ANY($1) GROUP BY serial", serials
        )
    }
    assert refunds == {s: m.refunds for s, _, _, m in batteries if m.refunds}
    await _money_as_modelled(pool, batteries)
    await _second_lives_as_modelled(pool, batteries)
    await _payments_as_modelled(pool, paid)
    await wait_for(lambda: _garbage_rejected(pool, garbage, garbage_sent))


async def _money_as_modelled(pool, batteries) -> None:
    """Releases, refunds from the reserve and resolutions (contract 8.1) as the model says."""
    serials = [b[0] for b in batteries]
    released = {
        r["serial"]: r["deposit_released"]
        for r in await pool.fetch(
            "SELECT serial, deposit_released FROM scheme.batteries WHERE serial = ANY($1)", serials
        )
    }
    assert released == {s: m.released for s, _, _, m in batteries if m.state is not None}
    sources = {
        r["subject"]: r["account"]
        for r in await pool.fetch(
            "SELECT p.subject, l->>'account' AS account"
            " FROM scheme.postings p, jsonb_array_elements(p.lines) l "
            "WHERE p.kind = 'refund' AND p.subject = ANY($1) AND (l->>'debit')::bigint > 0",
            serials,
        )
    }
    assert sources == {
        s: "reserve:unclaimed_deposits" if m.refunded_from_reserve else "liability:deposits"
        for s, _, _, m in batteries
        if m.refunds
    }
    opened = [d for _, _, _, m in batteries for d in m.discrepancies]
    resolved = {
        str(r["discrepancy_id"]): r["resolution"]
        for r in await pool.fetch(
            "SELECT discrepancy_id, resolution FROM scheme.discrepancy_resolutions"
            " WHERE discrepancy_id = ANY($1)",
            [uuid.UUID(d[0]) for d in opened],
        )
    }
    assert resolved == {d[0]: d[2] for d in opened if d[2] is not None}
    returned = await pool.fetchval(
        "SELECT count(*) FROM scheme.postings WHERE posting_key = ANY($1)",
        [f"suspense_return:{d[0]}" for d in opened],
    )
    assert returned == sum(d[2] == "returned_to_store" for d in opened)


async def run_terms(scheme: Scheme, currency: str, sku: str, repurpose_min: int, reuse_min: int) -> None:
    """The run's terms for a sku in its currency: the amounts every sale charges, the sku's thresholds."""
    data = {
        "sku": sku,
        "deposit": 5000,
        "recycling_fee": 800,
        "currency": currency,
        "effective_from": "2020-01-01T00:00:00Z",
        "reuse_min_pct": reuse_min,
        "repurpose_min_pct": repurpose_min,
    }
    await scheme.applied(await scheme.emit(envelope("terms.published", "finance", FINANCE, data)))


async def _second_lives_as_modelled(pool, batteries) -> None:
    """Each applied collection kept its route and asked for one battery.routed, caused by it; the repurposings
    as the model says (contract 8.3)."""
    serials = [b[0] for b in batteries]
    kept: dict[str, list[tuple[str, str]]] = {}
    for r in await pool.fetch(
        "SELECT serial, event_id, route FROM scheme.collections WHERE serial = ANY($1) ORDER BY occurred_at",
        serials,
    ):
        kept.setdefault(r["serial"], []).append((str(r["event_id"]), r["route"]))
    assert kept == {s: m.routes for s, _, _, m in batteries if m.routes}
    sent: dict[str, list[tuple[str, str]]] = {}
    for r in await pool.fetch(
        "SELECT key, value FROM scheme.outbox WHERE topic = $1 AND key = ANY($2) ORDER BY seq",
        topics.ROUTING,
        serials,
    ):
        data = json.loads(bytes(r["value"]))["data"]
        sent.setdefault(r["key"], []).append((data["caused_by"], data["route"]))
    assert sent == kept
    repurposed = {
        r["serial"]: r["count"]
        for r in await pool.fetch(
            "SELECT serial, count(*) FROM scheme.repurposings WHERE serial = ANY($1) GROUP BY serial", serials
        )
    }
    assert repurposed == {s: m.repurposings for s, _, _, m in batteries if m.repurposings}


COUNTERPARTY_ACCOUNT = {
    "store": "clearing:store:",
    "centre": "clearing:centre:",
    "recycler": "payable:recycler:",
}


async def payment(
    scheme: Scheme, currency: str, kind: str, how: str, paid: list[tuple[str, int, int]]
) -> dict[str, tuple[str, str | None]]:
    """Finance records a payment now, after the round settled: the model reads what the counterparty owes from
    the scheme's postings (the store its debit balance; the scheme its credit balance to a centre or the
    recycler), picks the amount, and expects the excess above what is owed; the event is sent twice and its
    payment id once more by another event."""
    counterparty = {"store": scheme.store, "centre": scheme.centre, "recycler": scheme.recycler}[kind]
    debit_net = await scheme.pool.fetchval(
        "SELECT coalesce(sum((l->>'debit')::bigint - (l->>'credit')::bigint), 0)::bigint"
        " FROM scheme.postings p, jsonb_array_elements(p.lines) l"
        " WHERE l->>'account' = $1 AND l->>'currency' = $2",
        COUNTERPARTY_ACCOUNT[kind] + counterparty,
        currency,
    )
    owed = max(0, debit_net if kind == "store" else -debit_net)
    amount = {"part": owed // 2, "all": owed, "over": owed + 1234}[how] or 1
    excess = max(0, amount - owed)
    payment_id = unique("P")
    data = {
        "payment_id": payment_id,
        "counterparty": {"kind": kind, "id": counterparty},
        "amount": amount,
        "currency": currency,
        "value_date": datetime.now(UTC).date().isoformat(),
        "reference": "model",
    }
    made = envelope("payment.recorded", "finance", FINANCE, data)
    again = envelope("payment.recorded", "finance", FINANCE, data)
    for event in (made, made, again):
        await send(scheme.producer, topics.FINANCE, payment_id, event)
    await scheme.applied(made)
    await scheme.rejected(again, "duplicate_payment")
    paid.append((payment_id, amount, excess))
    return {made["event_id"]: ("applied", None), again["event_id"]: ("rejected", "duplicate_payment")}


async def _payments_as_modelled(pool, paid: list[tuple[str, int, int]]) -> None:
    """Each payment recorded once with the excess the model expects, posted once against the bank for its
    amount, and an overpayment opened with that excess exactly when there is one."""
    ids = [p[0] for p in paid]
    recorded = {
        r["payment_id"]: (r["amount"], r["excess"])
        for r in await pool.fetch(
            "SELECT payment_id, amount, excess FROM scheme.payments WHERE payment_id = ANY($1)", ids
        )
    }
    assert recorded == {p: (amount, excess) for p, amount, excess in paid}
    banked = {
        r["posting_key"]: (r["entries"], r["bank"])
        for r in await pool.fetch(
            "SELECT p.posting_key, count(DISTINCT p.posting_key) AS entries,"
            " sum((l->>'debit')::bigint + (l->>'credit')::bigint)::bigint AS bank"
            " FROM scheme.postings p, jsonb_array_elements(p.lines) l"
            " WHERE p.posting_key = ANY($1) AND l->>'account' = 'bank:scheme' GROUP BY p.posting_key",
            [f"payment:{p}" for p in ids],
        )
    }
    assert banked == {f"payment:{p}": (1, amount) for p, amount, _ in paid}
    overpaid = {
        r["subject"]: int(r["excess"])
        for r in await pool.fetch(
            "SELECT subject, details->>'excess' AS excess FROM scheme.discrepancies"
            " WHERE kind = 'overpayment' AND subject = ANY($1)",
            ids,
        )
    }
    assert overpaid == {p: excess for p, _, excess in paid if excess}


def resolution(model: Model, wrong: bool) -> tuple[dict, str | None]:
    discrepancy_id, how = model.to_resolve(wrong)
    data = {"discrepancy_id": discrepancy_id, "resolution": how, "note": "model"}
    return envelope("discrepancy.resolved", "finance", FINANCE, data), model.resolve(discrepancy_id, how)


async def release(scheme: Scheme, currency: str, models: list[Model]) -> dict[str, tuple[str, str | None]]:
    """Finance releases the run's currency now; the same event again is a no-op, another with its id is a
    duplicate."""
    now = datetime.now(UTC).isoformat()
    data = {"release_id": unique("R"), "currency": currency, "sold_before": now}
    made = envelope("deposits.released", "finance", FINANCE, data, occurred_at=now)
    again = envelope("deposits.released", "finance", FINANCE, data, occurred_at=now)
    for event in (made, made, again):
        await send(scheme.producer, topics.FINANCE, currency, event)
    await scheme.applied(made)
    await scheme.rejected(again, "duplicate_release")
    for model in models:
        model.release()
    return {made["event_id"]: ("applied", None), again["event_id"]: ("rejected", "duplicate_release")}


def build(
    scheme: Scheme, step: str, serial: str, sale_id: str, lot_id: str, model: Model, currency: str
) -> dict:
    s = scheme
    if step in ("sale", "resale"):
        contract = "lease" if model.origin == "lease" else "deposit"
        data = {
            "sale_id": sale_id,
            "store_id": s.store,
            "currency": currency,
            "items": [
                item(serial, deposit=0 if contract == "lease" else 5000, contract=contract, sku=model.sku)
            ],
        }
        return envelope("sale.recorded", "pos", s.store, data)
    if step == "cancel":
        data = {"sale_id": sale_id, "store_id": s.store, "serials": [serial], "reason": "customer_withdrew"}
        return envelope("sale.cancelled", "pos", s.store, data)
    if step in ("collect", "bad_schema"):
        data = {"collection_id": unique("C"), "centre_id": s.centre, "serial": serial, "condition": "damaged"}
        if step == "bad_schema":
            data["mass_kg"] = "2.7"
        else:
            data["condition"], health = model.grades[model.graded]
            model.graded += 1
            if health is not None:
                data["state_of_health_pct"] = health
        return envelope("collection.logged", "return_centre", s.centre, data)
    if step == "to_operator":
        kind, id_ = model.custodian or ("return_centre", "nobody")
        data = {
            "serial": serial,
            "from": {"kind": kind, "id": id_},
            "to": {"kind": OPERATOR[0], "id": OPERATOR[1]},
            "reason": "second_life",
        }
        return envelope("custody.transferred", *OPERATOR, data)
    if step == "repurpose":
        data = {"serial": serial, "operator_id": OPERATOR[1], "application": "stationary_storage"}
        return envelope("battery.repurposed", *OPERATOR, data)
    if step == "transfer":
        kind, id_ = model.custodian or ("transporter", "nobody")
        data = {
            "serial": serial,
            "from": {"kind": kind, "id": id_},
            "to": {"kind": "transporter", "id": "haul-1"},
            "reason": "transport",
        }
        return envelope("custody.transferred", "transporter", "haul-1", data)
    if step == "dispatch":
        data = {
            "lot_id": lot_id,
            "centre_id": s.centre,
            "recycler_id": s.recycler,
            "serials": [serial],
            "gross_mass_kg": 3.0,
        }
        return envelope("lot.dispatched", "return_centre", s.centre, data)
    if step in ("receive", "lose"):
        received = [serial] if step == "receive" else []
        data = {
            "lot_id": lot_id,
            "recycler_id": s.recycler,
            "serials_received": received,
            "gross_mass_kg": 3.0,
        }
        return envelope("lot.received", "recycler", s.recycler, data)
    assert step == "recover", step
    data = {
        "lot_id": lot_id,
        "recycler_id": s.recycler,
        "input_mass_kg": 3.0,
        "cost": 150,
        "currency": currency,
        "recovered": [{"material": "nickel", "mass_kg": 0.4}],
    }
    return envelope("recovery.confirmed", "recycler", s.recycler, data)


async def _all_in_inbox(pool, ids: list[uuid.UUID]) -> bool:
    return await pool.fetchval(
        "SELECT count(*) FROM scheme.inbox WHERE event_id = ANY($1::uuid[])", ids
    ) == len(ids)


async def _garbage_rejected(pool, marker: str, sent: int) -> bool:
    count = await pool.fetchval(
        "SELECT count(*) FROM scheme.outbox"
        " WHERE topic = $1 AND position($2 in convert_from(value, 'UTF8')) > 0",
        topics.REJECTIONS,
        marker.encode().decode(),
    )
    return count == sent
