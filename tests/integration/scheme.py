"""A small driver for the scheme's events in: builds envelopes, sends them, waits for their outcome."""

from __future__ import annotations

import json
import uuid

from contracts import topics
from tests.conftest import envelope, send, unique, wait_for

EUR = "EUR"


def item(
    serial: str,
    deposit: int = 5000,
    fee: int = 800,
    contract: str = "deposit",
    sku: str = "EB-500",
    category: str = "lmt",
    chemistry: str = "li-ion-nmc",
    mass_kg: float = 2.8,
) -> dict:
    return {
        "serial": serial,
        "sku": sku,
        "category": category,
        "chemistry": chemistry,
        "mass_kg": mass_kg,
        "deposit": deposit,
        "recycling_fee": fee,
        "contract": contract,
    }


class Scheme:
    def __init__(
        self, producer, pool, store: str | None = None, centre: str | None = None, recycler: str | None = None
    ):
        self.producer, self.pool = producer, pool
        self.store = store or unique("store")
        self.centre = centre or unique("centre")
        self.recycler = recycler or unique("rec")

    async def emit(self, event: dict, key: str | None = None) -> dict:
        topic = topics.TOPIC_OF_TYPE[event["type"]]
        field = topics.KEY_FIELD_OF_TYPE[event["type"]]
        await send(self.producer, topic, key or event["data"][field], event)
        return event

    async def sale(self, items: list[dict], sale_id: str | None = None, **extra) -> dict:
        data = {
            "sale_id": sale_id or unique("S"),
            "store_id": self.store,
            "currency": EUR,
            "items": items,
            **extra,
        }
        return await self.emit(envelope("sale.recorded", "pos", self.store, data))

    async def cancel(self, sale_id: str, serials: list[str]) -> dict:
        data = {"sale_id": sale_id, "store_id": self.store, "serials": serials, "reason": "customer_withdrew"}
        return await self.emit(envelope("sale.cancelled", "pos", self.store, data))

    async def collect(
        self, serial: str, condition: str = "functional", refund: dict | None = None, **extra
    ) -> dict:
        """`extra`: optional fields such as `state_of_health_pct`, `country`, `mass_kg` (contract 8.3)."""
        data = {
            "collection_id": unique("C"),
            "centre_id": self.centre,
            "serial": serial,
            "condition": condition,
            **extra,
        }
        if refund is not None:
            data["refund"] = refund
        return await self.emit(envelope("collection.logged", "return_centre", self.centre, data))

    async def transfer(
        self,
        serial: str,
        from_: dict,
        to: dict,
        reason: str = "transport",
        kind: str = "transporter",
        source_id: str = "haul-1",
    ) -> dict:
        data = {"serial": serial, "from": from_, "to": to, "reason": reason}
        return await self.emit(envelope("custody.transferred", kind, source_id, data))

    async def dispatch(self, serials: list[str], lot_id: str | None = None, mass: float = 100.0) -> dict:
        data = {
            "lot_id": lot_id or unique("L"),
            "centre_id": self.centre,
            "recycler_id": self.recycler,
            "serials": serials,
            "gross_mass_kg": mass,
        }
        return await self.emit(envelope("lot.dispatched", "return_centre", self.centre, data))

    async def receive(self, lot_id: str, serials: list[str], mass: float = 100.0) -> dict:
        data = {
            "lot_id": lot_id,
            "recycler_id": self.recycler,
            "serials_received": serials,
            "gross_mass_kg": mass,
        }
        return await self.emit(envelope("lot.received", "recycler", self.recycler, data))

    async def recover(
        self, lot_id: str, cost: int = 6100, recovered: list[dict] | None = None, **extra
    ) -> dict:
        data = {
            **extra,
            "lot_id": lot_id,
            "recycler_id": self.recycler,
            "input_mass_kg": 99.5,
            "cost": cost,
            "currency": EUR,
            "recovered": recovered
            or [{"material": "lithium", "mass_kg": 1.5}, {"material": "cobalt", "mass_kg": 3.2}],
        }
        return await self.emit(envelope("recovery.confirmed", "recycler", self.recycler, data))

    async def terms(
        self,
        sku: str,
        deposit: int,
        fee: int,
        effective_from: str = "2020-01-01T00:00:00Z",
        handling_fee: int | None = None,
        **extra,
    ) -> dict:
        """`extra`: optional fields such as `reuse_min_pct`, `repurpose_min_pct` (contract 8.3)."""
        data = {
            "sku": sku,
            "deposit": deposit,
            "recycling_fee": fee,
            "currency": EUR,
            "effective_from": effective_from,
            **extra,
        }
        if handling_fee is not None:
            data["handling_fee"] = handling_fee
        return await self.emit(envelope("terms.published", "finance", "finance-1", data))

    async def payment(
        self,
        kind: str,
        counterparty_id: str,
        amount: int,
        payment_id: str | None = None,
        currency: str = EUR,
        **extra,
    ) -> dict:
        """Contract 8.1: `payment.recorded` from finance (kind: store, centre or recycler)."""
        data = {
            "payment_id": payment_id or unique("P"),
            "counterparty": {"kind": kind, "id": counterparty_id},
            "amount": amount,
            "currency": currency,
            "value_date": "2026-11-30",
            "reference": "SEPA 8812",
            **extra,
        }
        return await self.emit(envelope("payment.recorded", "finance", "finance-1", data))

    async def repurpose(
        self, serial: str, operator_id: str, application: str = "stationary_storage", source_id: str = ""
    ) -> dict:
        """Contract 8.3: `battery.repurposed` from a second-life operator (by default the one it names)."""
        data = {"serial": serial, "operator_id": operator_id, "application": application}
        return await self.emit(envelope("battery.repurposed", "second_life", source_id or operator_id, data))

    # -- reading back -------------------------------------------------------
    async def outcome(self, event: dict) -> tuple[str, str | None]:
        """Wait until the event is applied or rejected; return (outcome, reason)."""

        async def check():
            return await self.pool.fetchrow(
                "SELECT outcome, reason FROM scheme.inbox WHERE event_id = $1", uuid.UUID(event["event_id"])
            )

        row = await wait_for(check)
        return row["outcome"], row["reason"]

    async def applied(self, event: dict) -> None:
        outcome = await self.outcome(event)
        assert outcome == ("applied", None), f"{event['type']} was {outcome}"

    async def rejected(self, event: dict, reason: str) -> None:
        outcome = await self.outcome(event)
        assert outcome == ("rejected", reason), f"{event['type']} was {outcome}, expected rejected {reason}"

    async def battery(self, serial: str):
        return await self.pool.fetchrow("SELECT * FROM scheme.batteries WHERE serial = $1", serial)

    async def discrepancies(self, subject: str) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT kind FROM scheme.discrepancies WHERE subject = $1 ORDER BY kind", subject
        )
        return [r["kind"] for r in rows]

    async def postings(self, subject: str) -> dict[str, list[dict]]:
        rows = await self.pool.fetch(
            "SELECT posting_key, lines FROM scheme.postings WHERE subject = $1", subject
        )
        return {r["posting_key"]: r["lines"] for r in rows}


def lines_of(lines: list[dict]) -> set[tuple]:
    return {(line["account"], line["debit"], line["credit"], line["currency"]) for line in lines}


def as_json(value) -> bytes:
    return json.dumps(value).encode()
