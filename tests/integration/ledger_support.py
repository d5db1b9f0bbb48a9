"""Helpers of the ledger's integration tests: scheme rows, postings, the worker, and a purge of test money.

Fault tests work in XTS, the ISO 4217 code reserved for testing, and purge every
XTS row with superuser rights afterwards (the same `session_replication_role =
replica` that injects the faults), so the shared database reconciles again.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import pytest

from contracts.postings import PostingRequested, entry_id_for
from infra.local.probes import service_healthy
from infra.local.stack import SERVICES, Stack
from services.ledger.domain.journal import posted_event_id_for
from tests.conftest import unique

TEST_CURRENCY = "XTS"
WORKER_READY_TIMEOUT_S = 60.0
LEDGER_SERVICE = next(service for service in SERVICES if service.name == "ledger")


@pytest.fixture(scope="session")
def ledger_worker(stack, settings):
    """The stack's ledger worker; started here when the stack was brought up without it."""
    process = ensure_worker(settings)
    yield
    if process is not None:
        process.stop()


def ensure_worker(settings):
    """The stack's ledger worker if it runs, else one started here; returns the process to stop, or None."""
    port = LEDGER_SERVICE.port(settings)
    if service_healthy(port):
        return None
    stack = Stack(settings, say=lambda message: None)
    process = stack.process(LEDGER_SERVICE)
    process.start([sys.executable, "-m", LEDGER_SERVICE.module], env=stack.database_env(LEDGER_SERVICE.name))
    deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
    while not service_healthy(port):
        assert process.pid() is not None, f"the ledger worker exited; see {process.log_file}"
        assert time.monotonic() < deadline, "the ledger worker did not become healthy"
        time.sleep(0.2)
    return process


def request(
    key: str,
    kind: str,
    subject: str,
    lines: list[tuple[str, int, int]],
    currency: str = TEST_CURRENCY,
    reverses: str | None = None,
) -> PostingRequested:
    return PostingRequested(
        posting_key=key,
        kind=kind,
        subject=subject,
        caused_by=uuid.uuid4(),
        effective_at=datetime.now(UTC),
        reverses=reverses,
        lines=[{"account": a, "currency": currency, "debit": d, "credit": c} for a, d, c in lines],
    )


async def ask(connection: asyncpg.Connection, postings: list[PostingRequested]) -> None:
    """Record what the scheme asked the ledger to post (scheme.postings), as the stream processor does."""
    await connection.executemany(
        "INSERT INTO scheme.postings (posting_key, kind, subject, caused_by, effective_at, lines) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        [
            (
                p.posting_key,
                p.kind,
                p.subject,
                p.caused_by,
                p.effective_at,
                [line.model_dump() for line in p.lines],
            )
            for p in postings
        ],
    )


@dataclass(frozen=True)
class SoldBattery:
    serial: str
    sale_id: str
    store_id: str
    centre_id: str
    deposit: int = 5000
    fee: int = 800

    def sale(self) -> PostingRequested:
        return request(
            f"sale:{self.sale_id}:{self.serial}",
            "sale",
            self.serial,
            [
                (f"clearing:store:{self.store_id}", self.deposit + self.fee, 0),
                ("liability:deposits", 0, self.deposit),
                ("fund:recycling", 0, self.fee),
            ],
        )

    def refund(self, key: str | None = None) -> PostingRequested:
        return request(
            key or f"refund:{self.serial}",
            "refund",
            self.serial,
            [("liability:deposits", self.deposit, 0), (f"clearing:centre:{self.centre_id}", 0, self.deposit)],
        )


async def insert_sold(connection: asyncpg.Connection, battery: SoldBattery) -> None:
    now = datetime.now(UTC)
    await connection.execute(
        "INSERT INTO scheme.sales VALUES ($1, $2, $3, $4, $5)",
        battery.sale_id,
        battery.store_id,
        TEST_CURRENCY,
        now,
        uuid.uuid4(),
    )
    await connection.execute(
        "INSERT INTO scheme.sale_items "
        "VALUES ($1, $2, 'EB-500', 'lmt', 'li-ion-nmc', 2.8, $3, $4, 'deposit', 'in_market')",
        battery.sale_id,
        battery.serial,
        battery.deposit,
        battery.fee,
    )
    await connection.execute(
        """INSERT INTO scheme.batteries (serial, state, contract, sku, category, chemistry, mass_kg, currency,
               deposit_charged, recycling_fee, sale_id, store_id, sold_at, custodian_kind, custodian_id,
               history_length)
           VALUES ($1, 'in_use', 'deposit', 'EB-500', 'lmt', 'li-ion-nmc', 2.8, $2, $3, $4, $5, $6, $7,
                   'customer', 'c-1', 1)""",
        battery.serial,
        TEST_CURRENCY,
        battery.deposit,
        battery.fee,
        battery.sale_id,
        battery.store_id,
        now,
    )
    await _history(connection, battery.serial, 1, "sale.recorded", "customer", "c-1", "in_use")


async def insert_refunded(connection: asyncpg.Connection, battery: SoldBattery) -> None:
    await connection.execute(
        "UPDATE scheme.batteries SET state = 'collected', deposit_refunded = deposit_charged, "
        "history_length = 2, custodian_kind = 'return_centre', custodian_id = $2, collected_at = now() "
        "WHERE serial = $1",
        battery.serial,
        battery.centre_id,
    )
    await _history(
        connection, battery.serial, 2, "collection.logged", "return_centre", battery.centre_id, "collected"
    )
    await connection.execute(
        "INSERT INTO scheme.refunds VALUES ($1, $2, $3, $4, $5, 'cash', NULL, $6, now())",
        uuid.uuid4(),
        battery.serial,
        battery.centre_id,
        battery.deposit,
        TEST_CURRENCY,
        uuid.uuid4(),
    )


async def _history(
    connection, serial: str, seq: int, event_type: str, kind: str, party: str, state: str
) -> None:
    await connection.execute(
        "INSERT INTO scheme.custody_history VALUES ($1, $2, now(), $3, $4, NULL, NULL, $5, $6, $7)",
        serial,
        seq,
        uuid.uuid4(),
        event_type,
        kind,
        party,
        state,
    )


async def purge_test_currency(superuser_url: str) -> None:
    """Remove every XTS row of both schemas, triggers off: the test's faults and money leave with it."""
    connection = await asyncpg.connect(superuser_url)
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")
            keys = [
                r[0]
                for r in await connection.fetch(
                    "SELECT posting_key FROM scheme.postings WHERE lines @> $1::jsonb",
                    json.dumps([{"currency": TEST_CURRENCY}]),
                )
            ]
            keys += [
                r[0]
                for r in await connection.fetch(
                    "SELECT DISTINCT e.posting_key FROM ledger.entries e "
                    "JOIN ledger.lines l USING (entry_id) WHERE l.currency = $1",
                    TEST_CURRENCY,
                )
            ]
            entry_ids = [entry_id_for(key) for key in keys]
            await connection.execute(
                "DELETE FROM ledger.account_movements WHERE currency = $1", TEST_CURRENCY
            )
            await connection.execute("DELETE FROM ledger.entries WHERE entry_id = ANY($1::uuid[])", entry_ids)
            await connection.execute(
                "DELETE FROM ledger.outbox WHERE event_id = ANY($1::uuid[])",
                [posted_event_id_for(key) for key in keys],
            )
            await connection.execute("DELETE FROM scheme.postings WHERE posting_key = ANY($1::text[])", keys)
            serials = "SELECT serial FROM scheme.batteries WHERE currency = $1"
            subjects = f"SELECT discrepancy_id FROM scheme.discrepancies WHERE subject IN ({serials})"
            await connection.execute(
                f"DELETE FROM scheme.discrepancy_resolutions WHERE discrepancy_id IN ({subjects})",
                TEST_CURRENCY,
            )
            await connection.execute(
                f"DELETE FROM scheme.discrepancies WHERE subject IN ({serials})", TEST_CURRENCY
            )
            await connection.execute(
                "DELETE FROM scheme.released_deposits WHERE currency = $1", TEST_CURRENCY
            )
            await connection.execute("DELETE FROM scheme.releases WHERE currency = $1", TEST_CURRENCY)
            for table in ("custody_history", "collections", "refunds"):
                await connection.execute(
                    f"DELETE FROM scheme.{table} WHERE serial IN ({serials})", TEST_CURRENCY
                )
            await connection.execute("DELETE FROM scheme.batteries WHERE currency = $1", TEST_CURRENCY)
            for table in ("payments", "counterparty_movements", "terms"):
                await connection.execute(f"DELETE FROM scheme.{table} WHERE currency = $1", TEST_CURRENCY)
            await connection.execute(
                "DELETE FROM scheme.sale_items WHERE sale_id IN "
                "(SELECT sale_id FROM scheme.sales WHERE currency = $1)",
                TEST_CURRENCY,
            )
            await connection.execute("DELETE FROM scheme.sales WHERE currency = $1", TEST_CURRENCY)
    finally:
        await connection.close()


@pytest.fixture
async def clean(superuser_url):
    """The test currency's rows purged before and after a test."""
    await purge_test_currency(superuser_url)
    yield
    await purge_test_currency(superuser_url)


def check(result: dict, name: str) -> dict:
    return next(c for c in result["checks"] if c["name"] == name)


def named(result: dict, name: str, offenders: str, field: str) -> list:
    return [item[field] for item in check(result, name)["details"][offenders]["items"]]


def battery() -> SoldBattery:
    return SoldBattery(unique("BAT"), unique("S"), unique("store"), unique("centre"))


def untraced(result: dict, posting_key: str) -> dict:
    """What `ledger_traced_to_scheme` says of one posting key."""
    items = check(result, "ledger_traced_to_scheme")["details"]["untraced"]["items"]
    return next(item for item in items if item["posting_key"] == posting_key)


def payment(
    kind: str, party: str, amount: int, payment_id: str | None = None
) -> tuple[str, PostingRequested]:
    """A payment (contract 8.1) in the test currency: its id and the posting the scheme asks for it."""
    payment_id = payment_id or unique("P")
    account = {"store": "clearing:store:", "centre": "clearing:centre:", "recycler": "payable:recycler:"}[
        kind
    ] + party
    lines = (
        [("bank:scheme", amount, 0), (account, 0, amount)]
        if kind == "store"
        else [(account, amount, 0), ("bank:scheme", 0, amount)]
    )
    return payment_id, request(f"payment:{payment_id}", f"payment_{kind}", payment_id, lines)


async def insert_payment(
    connection: asyncpg.Connection, payment_id: str, kind: str, party: str, amount: int
) -> None:
    await connection.execute(
        "INSERT INTO scheme.payments (payment_id, event_id, counterparty_kind, counterparty_id, amount, "
        "currency, value_date, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, current_date, now())",
        payment_id,
        uuid.uuid4(),
        kind,
        party,
        amount,
        TEST_CURRENCY,
    )


async def insert_collection(
    connection: asyncpg.Connection, battery: SoldBattery, handling_fee: int, outcome: str = "refunded"
) -> uuid.UUID:
    """The collection of a sold test battery, as having earned `handling_fee` (revision 0017)."""
    event_id = uuid.uuid4()
    await connection.execute(
        "INSERT INTO scheme.collections (event_id, collection_id, serial, centre_id, condition, outcome, "
        "occurred_at, handling_fee, handling_fee_currency) "
        "VALUES ($1, $2, $3, $4, 'functional', $5, now(), $6, $7)",
        event_id,
        unique("C"),
        battery.serial,
        battery.centre_id,
        outcome,
        handling_fee,
        TEST_CURRENCY if handling_fee else None,
    )
    return event_id


async def insert_terms(
    connection: asyncpg.Connection,
    sku: str,
    handling_fee: int,
    effective_from: str = "2020-01-01T00:00:00+00:00",
) -> None:
    await connection.execute(
        "INSERT INTO scheme.terms"
        " (sku, currency, effective_from, deposit, recycling_fee, event_id, handling_fee) "
        "VALUES ($1, $2, $3::text::timestamptz, 5000, 800, $4, $5)",
        sku,
        TEST_CURRENCY,
        effective_from,
        uuid.uuid4(),
        handling_fee,
    )


def handling_fee_posting(collection: uuid.UUID, battery: SoldBattery, fee: int) -> PostingRequested:
    return request(
        f"handling_fee:{collection}",
        "handling_fee",
        battery.serial,
        [("fund:recycling", fee, 0), (f"clearing:centre:{battery.centre_id}", 0, fee)],
    )
