"""`takeback demo`: months of a realistic scheme through the running stack, over HTTP and Kafka.

Stores, return centres and finance call the HTTP gateway with their own keys;
the transporter and the recycler speak Kafka. Each simulated month goes in
phases, each applied before the next (a collection after its sale, a recovery
after its receipt), as real producers would see their events accepted.

A restart of PostgreSQL, Kafka or the gateway during the run is waited out:
each send is made again with the same bytes (the same event_id), each read
again, within `outage.OUTAGE_WINDOW_S`; a longer outage ends the run with
`OutageTooLong`, one sentence.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from contracts import topics
from services.common import outage
from services.common.gateway_client import fresh_reconciliation, get_body, send_event
from services.common.kafka import events_producer
from services.common.settings import Settings
from services.demo import world
from services.demo.finance import CURRENCY, FinanceDesk, settled, tomorrow
from services.demo.world import (
    CENTRES,
    COUNTRY,
    OPERATOR,
    PRODUCTS,
    RECYCLER,
    STORES,
    TRANSPORTER,
    Battery,
    Lot,
    at,
    event,
)
from services.gateway.adapters.key_repository import PostgresKeyRepository
from services.gateway.service_layer.keys import create_key

HTTP_CONCURRENCY = 16
RELEASE_AFTER_MONTHS = 2  # deposits of batteries sold in the first months, still out, are released once
APPLY_TIMEOUT_S = 300.0
GRADED_SHARE = 0.85  # of returns given a state of health by the centre (the rest are routed to inspection)
SECOND_LIFE_SHARE = 0.8  # of the returns routed `repurpose` that go to the second-life operator
COLLECTED_AGAIN_SHARE = 0.5  # of the repurposed batteries taken back each month, their second life over
SECOND_LIFE_STEP = timedelta(hours=6)  # between a return, its handover to the operator and its repurposing


class Demo:
    def __init__(
        self,
        settings: Settings,
        batteries: int,
        months: int,
        seed: int,
        progress: Callable[[str, int, int], None],
    ):
        self.settings, self.months, self.progress = settings, months, progress
        self.per_month = max(1, batteries // months)
        self.rng = random.Random(seed)
        self.run = uuid.uuid4().hex[:6]
        self.batteries: dict[str, Battery] = {}
        self.lots: list[Lot] = []
        self.sent_total = 0
        self.release_month = max(
            RELEASE_AFTER_MONTHS, months * 2 // 3
        )  # once, with months of sales behind it
        self.release_id = f"R-{self.run}"

    async def run_all(self) -> dict:
        self.pool = await outage.create_client_pool(self.settings.database_url)
        self.keys = await outage.through_outage(
            self._keys, "creating the demo's API keys", outage.DATABASE_AWAY
        )
        self.http = httpx.AsyncClient(
            base_url=f"http://{self.settings.http_host}:{self.settings.http_port}", timeout=30.0
        )
        self.kafka = events_producer(
            self.settings, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=512 * 1024
        )
        await self.kafka.start()
        self.gate = asyncio.Semaphore(HTTP_CONCURRENCY)
        before = await self._already_there()
        try:
            self.desk = FinanceDesk(self.http, self.keys["finance"], self.run, self._finance_phase)
            await self._phase("terms", [self._http("finance", self._terms(p)) for p in PRODUCTS])
            for month in range(self.months):
                await self._month(month)
                await self._month_closed(month)
            await self._close_lots(self.months)
            await self._year_closed()
            return {**await self._results(), "before": before}
        finally:
            await self.kafka.stop()
            await self.http.aclose()
            await self.pool.close()

    # -- one simulated month ----------------------------------------------------
    async def _month(self, m: int) -> None:
        label = f"month {m + 1:2d}/{self.months}"
        sales = [self._http(e["source"]["id"], e) for e in self._sales(m)]
        returns = [self._http(e["source"]["id"], e) for e in self._collections(m)]
        await self._phase(f"{label} sales and returns", sales + returns + self._receipts(m))
        handovers = [self._http(e["source"]["id"], e) for e in await self._to_second_life(m)]
        await self._phase(f"{label} to second life", handovers)
        repurposings = [self._http(OPERATOR, e) for e in self._repurposings()]
        await self._phase(f"{label} repurposed", repurposings)
        cancels = [self._http(e["source"]["id"], e) for e in self._cancellations(m)]
        dispatches = [self._http(e["source"]["id"], e) for e in self._dispatches(m)]
        await self._phase(f"{label} lots out", cancels + dispatches + self._recoveries(m))
        await self._phase(f"{label} transport", self._transfers(m))

    async def _month_closed(self, m: int) -> None:
        """Finance at the month's end: resolves what opened, releases unclaimed deposits once, settles."""
        label, end = f"month {m + 1:2d}/{self.months}", world.month_start(m + 1, self.months)
        await self._wait_for_ledger()
        await self.desk.resolve(label, end + timedelta(minutes=10))
        if m == self.release_month:
            sold_before = world.month_start(RELEASE_AFTER_MONTHS, self.months)
            await self.desk.release(self.release_id, sold_before, end + timedelta(minutes=20))
        await self._wait_for_ledger()
        await self.desk.settle(label, end + timedelta(hours=1))

    async def _year_closed(self) -> None:
        """The last lots recovered: resolve and settle everything, so every balance ends at zero."""
        await self._wait_for_ledger()
        now = datetime.now(UTC) - timedelta(seconds=1)
        await self.desk.resolve("closing", now)
        await self._wait_for_ledger()
        await self.desk.settle("closing", now)
        await self._wait_for_ledger()

    async def _finance_phase(self, name: str, events: list[dict]) -> int:
        """Sent and waited for; how many were applied (the scheme may refuse one: the demo goes on and its
        counts say so)."""
        await self._phase(name, [self._http("finance", e) for e in events])
        ids = [uuid.UUID(e["event_id"]) for e in events]
        return await outage.fetchval(
            self.pool,
            "SELECT count(*) FROM scheme.inbox WHERE event_id = ANY($1::uuid[]) AND outcome = 'applied'",
            ids,
        )

    async def _close_lots(self, m: int) -> None:
        await self._phase("last receipts", self._receipts(m))
        await self._phase("last recoveries", self._recoveries(m))

    def _sales(self, m: int) -> list[dict]:
        out, left = [], self.per_month
        while left > 0:
            store, size = self.rng.choice(STORES), min(left, self.rng.choice([1, 1, 1, 2, 3]))
            sale_id, when, items = f"S-{self.run}-{m}-{left}", at(m, self.months, self.rng), []
            for _ in range(size):
                product = self.rng.choice(PRODUCTS)
                lease = self.rng.random() < 0.1
                serial = f"BAT-{self.run}-{len(self.batteries) + len(items):06d}"
                deposit = 0 if lease else product.deposit - (100 if self.rng.random() < 0.01 else 0)
                items.append(product.sale_item(serial, deposit, lease))
            for it in items:
                product = next(p for p in PRODUCTS if p.sku == it["sku"])
                self.batteries[it["serial"]] = Battery(
                    it["serial"], product, it["contract"], m, store, sale_id
                )
            if m == 3 and left == self.per_month:  # month 3's first sale holds a serial already in the market
                resold = next(b for b in self.batteries.values() if b.state == "in_use" and b.sold_month < m)
                items.append({**items[0], "serial": resold.serial})
            out.append(
                event(
                    "sale.recorded",
                    "pos",
                    store,
                    when,
                    {
                        "sale_id": sale_id,
                        "store_id": store,
                        "currency": "EUR",
                        "customer_ref": f"c-{self.rng.randrange(10**6):06d}",
                        "country": COUNTRY[store],
                        "items": items,
                    },
                )
            )
            left -= size
        return out

    def _cancellations(self, m: int) -> list[dict]:
        fresh = [b for b in self.batteries.values() if b.sold_month == m and b.state == "in_use"]
        out = []
        for battery in self.rng.sample(fresh, k=max(1, len(fresh) // 50)) if fresh else []:
            battery.state = "cancelled"
            out.append(
                event(
                    "sale.cancelled",
                    "pos",
                    battery.store,
                    at(m, self.months, self.rng),
                    {
                        "sale_id": battery.sale_id,
                        "store_id": battery.store,
                        "serials": [battery.serial],
                        "reason": "customer_withdrew",
                    },
                )
            )
        return out

    def _collections(self, m: int) -> list[dict]:
        out = []
        for battery in list(self.batteries.values()):
            returning = battery.state == "in_use" and battery.sold_month <= m - 2 and self.rng.random() < 0.09
            if returning or (battery.state == "cancelled" and self.rng.random() < 0.05):
                out.append(
                    self._collection(
                        battery.serial, m, battery.state == "in_use" and battery.contract == "deposit"
                    )
                )
                battery.state = "collected"
        for battery in list(self.batteries.values()):  # a second life over: taken back free
            if battery.state == "repurposed" and self.rng.random() < COLLECTED_AGAIN_SHARE:
                out.append(self._collection(battery.serial, m, False))
                battery.state = "collected"
        for i in range(max(1, len(out) // 40)):  # orphans and historic batteries
            serial = f"OLD-{self.run}-{m}-{i}"
            self.batteries[serial] = Battery(
                serial, self.rng.choice(PRODUCTS), "none", -1, "", "", "collected"
            )
            out.append(self._collection(serial, m, False))
        return out

    def _collection(self, serial: str, m: int, refund: bool) -> dict:
        centre, battery = self.rng.choice(CENTRES), self.batteries[serial]
        battery.holder, battery.returned_at = centre, at(m, self.months, self.rng)
        data = {
            "collection_id": f"C-{serial}-{m}",
            "centre_id": centre,
            "serial": serial,
            "condition": self.rng.choice(["functional", "functional", "damaged", "defective", "hazardous"]),
            "mass_kg": battery.product.mass_kg,
            "country": COUNTRY[centre],
        }
        if self.rng.random() < GRADED_SHARE:  # graded at the counter (contract 8.3)
            data["state_of_health_pct"] = self.rng.randint(40, 100)
        if refund:
            method = self.rng.choice(["cash", "card", "bank_transfer", "voucher"])
            data["refund"] = {
                "method": method,
                **({"payee_ref": f"p-{serial[-6:]}"} if method == "bank_transfer" else {}),
            }
        return event("collection.logged", "return_centre", centre, battery.returned_at, data)

    async def _to_second_life(self, m: int) -> list[dict]:
        """Some of the month's returns the scheme routed `repurpose` (by their last collection) go from their
        centre to the second-life operator, after their return."""
        returned = [b.serial for b in self.batteries.values() if b.state == "collected" and b.returned_at]
        routed = await outage.fetch(
            self.pool,
            "SELECT serial FROM (SELECT DISTINCT ON (serial) serial, route FROM scheme.collections"
            " WHERE serial = ANY($1) ORDER BY serial, occurred_at DESC) AS last WHERE route = 'repurpose'",
            returned,
        )  # as its last return was routed
        chosen = sorted(r["serial"] for r in routed)
        out = []
        for serial in self.rng.sample(chosen, k=int(len(chosen) * SECOND_LIFE_SHARE)):
            battery = self.batteries[serial]
            battery.state = "second_life"
            out.append(
                event(
                    "custody.transferred",
                    "return_centre",
                    battery.holder,
                    self._after_return(battery, 1),
                    {
                        "serial": serial,
                        "from": {"kind": "return_centre", "id": battery.holder},
                        "to": {"kind": "second_life", "id": OPERATOR},
                        "reason": "second_life",
                    },
                )
            )
        return out

    def _repurposings(self) -> list[dict]:
        out = []
        for battery in self.batteries.values():
            if battery.state == "second_life":
                battery.state = "repurposed"
                data = {
                    "serial": battery.serial,
                    "operator_id": OPERATOR,
                    "application": "stationary_storage",
                }
                out.append(
                    event("battery.repurposed", "second_life", OPERATOR, self._after_return(battery, 2), data)
                )
        return out

    def _after_return(self, battery: Battery, steps: int) -> str:
        """A moment `steps` steps after the battery's return, never ahead of the clock: its history in
        order."""
        moment = datetime.fromisoformat(battery.returned_at) + steps * SECOND_LIFE_STEP
        return min(moment, datetime.now(UTC) - timedelta(seconds=30 - steps)).isoformat()

    def _dispatches(self, m: int) -> list[dict]:
        out = []
        for centre in CENTRES:
            serials = [
                b.serial for b in self.batteries.values() if b.state == "collected" and b.holder == centre
            ]
            if not serials:
                continue
            mass = round(sum(self.batteries[s].product.mass_kg for s in serials) * 1.05, 1)
            lot = Lot(f"L-{self.run}-{m}-{centre}", centre, serials, mass, m)
            self.lots.append(lot)
            for serial in serials:
                self.batteries[serial].state = "in_transit"
            out.append(
                event(
                    "lot.dispatched",
                    "return_centre",
                    centre,
                    at(m, self.months, self.rng),
                    {
                        "lot_id": lot.lot_id,
                        "centre_id": centre,
                        "recycler_id": RECYCLER,
                        "serials": serials,
                        "gross_mass_kg": mass,
                    },
                )
            )
        return out

    def _lots_of(self, month: int) -> list[Lot]:
        return [lot for lot in self.lots if lot.month == month]

    def _transfers(self, m: int) -> list:
        out = []
        for lot in self._lots_of(m):
            for serial in lot.serials:
                out.append(
                    self._kafka(
                        event(
                            "custody.transferred",
                            "transporter",
                            TRANSPORTER,
                            at(m, self.months, self.rng),
                            {
                                "serial": serial,
                                "from": {"kind": "return_centre", "id": lot.centre},
                                "to": {"kind": "transporter", "id": TRANSPORTER},
                                "reason": "transport",
                            },
                        )
                    )
                )
        return out

    def _receipts(self, m: int) -> list:
        out = []
        for index, lot in enumerate(self._lots_of(m - 1)):
            lot.received = list(lot.serials)
            mass = lot.mass_kg
            if index == 0 and m % 4 == 0 and len(lot.received) > 1:
                lost = lot.received.pop()  # lost in transit
                mass -= self.batteries[lost].product.mass_kg
            if index == 1 and m % 5 == 0:
                mass *= 0.95  # the scales disagree
            out.append(
                self._kafka(
                    event(
                        "lot.received",
                        "recycler",
                        RECYCLER,
                        at(m, self.months, self.rng),
                        {
                            "lot_id": lot.lot_id,
                            "recycler_id": RECYCLER,
                            "serials_received": lot.received,
                            "gross_mass_kg": round(mass, 1),
                        },
                    )
                )
            )
        return out

    def _recoveries(self, m: int) -> list:
        out = []
        for lot in self._lots_of(m - 1):
            masses: dict[str, float] = {}
            for serial in lot.received:
                product = self.batteries[serial].product
                for material, share in world.RECOVERY_KG_PER_KG.get(product.chemistry, {}).items():
                    masses[material] = masses.get(material, 0.0) + product.mass_kg * share
            input_kg = round(sum(self.batteries[s].product.mass_kg for s in lot.received), 1) or 0.1
            recovered = [
                {"material": k, "mass_kg": round(v, 3)} for k, v in sorted(masses.items()) if v >= 0.001
            ]
            data = {
                "lot_id": lot.lot_id,
                "recycler_id": RECYCLER,
                "input_mass_kg": input_kg,
                "recovered": recovered or [{"material": "other", "mass_kg": 0.001}],
                "cost": int(input_kg * world.COST_PER_KG),
                "currency": "EUR",
            }
            output_kg = self._output_kg(lot, input_kg)
            if output_kg is not None:  # contract 8.3: what the recycling efficiency report weighs
                data["output_mass_kg"] = output_kg
            when = at(m, self.months, self.rng)
            out.append(self._kafka(event("recovery.confirmed", "recycler", RECYCLER, when, data)))
        return out

    def _output_kg(self, lot, input_kg: float) -> float | None:
        """The lot's output mass: each received battery's mass times its chemistry's output share, never above
        the input; None for a lot that received nothing (there is nothing to put out)."""
        output = sum(
            self.batteries[s].product.mass_kg
            * world.OUTPUT_KG_PER_KG.get(self.batteries[s].product.chemistry, world.OUTPUT_KG_PER_KG_OTHER)
            for s in lot.received
        )
        return min(round(output, 3), input_kg) if output > 0 else None

    def _terms(self, product) -> dict:
        return event(
            "terms.published",
            "finance",
            "finance",
            at(0, self.months, self.rng),
            {
                "sku": product.sku,
                "deposit": product.deposit,
                "recycling_fee": product.recycling_fee,
                "currency": "EUR",
                "effective_from": "2020-01-01T00:00:00Z",
                "handling_fee": product.handling_fee,
                "reuse_min_pct": product.reuse_min_pct,
                "repurpose_min_pct": product.repurpose_min_pct,
            },
        )

    # -- sending and waiting ----------------------------------------------------
    async def _keys(self) -> dict[str, str]:
        keys = {}
        owner = await outage.create_client_pool(
            self.settings.database_owner_url, max_size=1
        )  # it alone makes keys
        try:
            async with owner.acquire() as connection:
                repository = PostgresKeyRepository(connection)
                for kind, ids in (
                    ("pos", STORES),
                    ("return_centre", CENTRES),
                    ("finance", ["finance"]),
                    ("second_life", [OPERATOR]),
                ):
                    for source_id in ids:
                        keys[source_id], _ = await create_key(repository, kind, source_id)
        finally:
            await owner.close()
        return keys

    async def _http(self, source_id: str, envelope: dict) -> str:
        body = json.dumps(envelope).encode()  # the same bytes on every attempt
        async with self.gate:
            await send_event(
                self.http, body, self.keys[source_id], f"sending {envelope['type']} to the gateway"
            )
        return envelope["event_id"]

    async def _kafka(self, envelope: dict) -> str:
        key = envelope["data"][topics.KEY_FIELD_OF_TYPE[envelope["type"]]].encode()
        topic, body = topics.TOPIC_OF_TYPE[envelope["type"]], json.dumps(envelope).encode()
        await outage.through_outage(
            lambda: self.kafka.send_and_wait(topic, body, key=key),
            f"sending {envelope['type']} to Kafka",
            outage.BROKER_AWAY,
        )
        return envelope["event_id"]

    async def _phase(self, name: str, sends: list) -> None:
        ids = [uuid.UUID(i) for i in await asyncio.gather(*sends)]
        self.sent_total += len(ids)
        deadline = time.monotonic() + APPLY_TIMEOUT_S
        while time.monotonic() < deadline:
            done = await outage.fetchval(
                self.pool, "SELECT count(*) FROM scheme.inbox WHERE event_id = ANY($1::uuid[])", ids
            )
            self.progress(name, done, len(ids))
            if done == len(ids):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"demo phase {name}: events not applied within {APPLY_TIMEOUT_S} s")

    async def _already_there(self) -> dict:
        """What the stack held before this run (an earlier demo, or anything else): the books shown at the end
        include it, so the run says so."""
        counts = await outage.through_outage(
            lambda: self.pool.fetchrow(
                "SELECT (SELECT count(*) FROM scheme.batteries) AS batteries, "
                "(SELECT count(*) FROM scheme.inbox) AS events, "
                "(SELECT count(*) FROM ledger.entries) AS journal_entries"
            ),
            "reading what the stack already holds",
            outage.DATABASE_AWAY,
        )
        return dict(counts)

    async def _wait_for_ledger(self) -> None:
        deadline = time.monotonic() + APPLY_TIMEOUT_S
        total = await outage.fetchval(self.pool, "SELECT count(*) FROM scheme.postings")
        while time.monotonic() < deadline:
            pending = await outage.fetchval(
                self.pool,
                "SELECT count(*) FROM scheme.postings p WHERE NOT EXISTS "
                "(SELECT 1 FROM ledger.entries e WHERE e.posting_key = p.posting_key)",
            )
            self.progress("ledger postings", total - pending, total)
            if pending == 0:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError("the ledger did not post every entry in time")

    async def _second_life(self) -> dict:
        """The run's routes (contract 8.3), its batteries repurposed, and those taken back after it."""
        serials = list(self.batteries)
        routes = await outage.fetch(
            self.pool,
            "SELECT route, count(*) FROM scheme.collections WHERE serial = ANY($1) GROUP BY route",
            serials,
        )
        repurposed = await outage.fetchval(
            self.pool, "SELECT count(*) FROM scheme.repurposings WHERE serial = ANY($1)", serials
        )
        again = await outage.fetchval(
            self.pool,
            "SELECT count(*) FROM scheme.collections c WHERE serial = ANY($1) AND EXISTS (SELECT 1"
            " FROM scheme.repurposings r WHERE r.serial = c.serial AND r.repurposed_at < c.occurred_at)",
            serials,
        )
        return {
            "routed": {r["route"]: r["count"] for r in routes if r["route"] is not None},
            "repurposed": repurposed,
            "collected_again": again,
        }

    async def _results(self) -> dict:
        results = {"events_sent": self.sent_total, "batteries": len(self.batteries), "lots": len(self.lots)}
        results["reconciliation"] = await fresh_reconciliation(self.http, self.keys["finance"], "reconciling")
        for name, path in (
            ("balances", "/v1/finance/balances"),
            ("collection", "/v1/reports/collection"),
            ("collection_weight", "/v1/reports/collection?basis=weight"),  # contract 8.3
            ("recovery", "/v1/reports/recovery"),
            ("recycling_efficiency", "/v1/reports/recycling-efficiency"),
        ):
            results[name] = await get_body(self.http, path, self.keys["finance"], f"reading {path}")
        results["second_life"] = await self._second_life()
        results["settlement"] = await self.desk.statement(
            world.month_start(0, self.months).date().isoformat(), tomorrow()
        )
        results["finance"] = {
            "run": self.run,
            "payments": self.desk.payments,
            "resolutions": self.desk.resolved,
            "release_id": self.release_id,
            "released": self.desk.released,
            "handling_fees": await self._handling_fees(),
            **settled(results["settlement"]),
        }
        return results

    async def _handling_fees(self) -> dict:
        """What the run's collections earned their centres (contract 8.1): how many earned a fee, and the
        total (the demo's terms are in one currency)."""
        rows = await outage.fetch(
            self.pool,
            "SELECT count(*) AS collections, coalesce(sum(handling_fee), 0)::bigint AS amount"
            " FROM scheme.collections WHERE serial = ANY($1) AND handling_fee > 0",
            list(self.batteries),
        )
        return {"collections": rows[0]["collections"], "amount": rows[0]["amount"], "currency": CURRENCY}
