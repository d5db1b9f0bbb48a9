"""The money invariants: the ledger (plus postings in flight) against the scheme's own records."""

from __future__ import annotations

import asyncpg

from contracts.accounts import BANK, CENTRE_CLEARING, FUND, LIABILITY, STORE_CLEARING
from services.ledger.adapters.reconciliation import money_figures as figures
from services.ledger.domain import in_place_totals
from services.ledger.domain.checks import Check, add, money_check, offenders, sorted_money
from services.ledger.service_layer.reconciliation import in_place
from services.ledger.service_layer.reconciliation.snapshot import Snapshot
from services.ledger.service_layer.reconciliation.window import carry_keys
from services.ledger.service_layer.rows import jsonable

Paid = dict[tuple[str, str, str], int]  # (counterparty kind, id, currency) -> the payments' total
Earned = dict[tuple[str, str], int]  # (centre id, currency) -> the handling fees its collections earned


async def deposit_liability(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Invariant 2: liability:deposits = deposits of the batteries in use under a deposit, not released."""
    expected = in_place_totals.liability(await in_place.battery_totals(connection, snapshot))
    return liability_check(expected, snapshot)


def liability_check(expected: dict[str, int], snapshot: Snapshot) -> Check:
    return money_check(
        "deposit_liability",
        expected,
        snapshot.credit_net(LIABILITY),
        snapshot.credit_net(LIABILITY, in_flight=True),
        account=LIABILITY,
    )


async def recycling_fund(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Invariant 4: fund:recycling = fees of items in the market - recycling costs paid - handling fees paid
    (contract 8.1)."""
    fees = in_place_totals.fees_in_market(await in_place.sale_item_totals(connection, snapshot))
    costs = await figures.recovery_costs(connection)
    snapshot.carry["recovery_costs"] = costs
    return fund_check(fees, costs, await handling_fees(connection, snapshot), snapshot)


def fund_check(fees: dict[str, int], costs: dict[str, int], earned: Earned, snapshot: Snapshot) -> Check:
    handling = per_currency(earned)
    expected = add(
        fees,
        {currency: -cost for currency, cost in costs.items()},
        {currency: -fee for currency, fee in handling.items()},
    )
    return money_check(
        "recycling_fund",
        expected,
        snapshot.credit_net(FUND),
        snapshot.credit_net(FUND, in_flight=True),
        account=FUND,
        fees_set_aside=sorted_money(fees),
        recycling_costs=sorted_money(costs),
        handling_fees=sorted_money(handling),
    )


async def handling_fees(connection: asyncpg.Connection, snapshot: Snapshot) -> Earned:
    """The handling fees the collections earned (contract 8.1), per centre and currency; read once a run."""
    if "handling_fees" not in snapshot.carry:
        snapshot.carry["handling_fees"] = sorted(await figures.handling_fees_earned(connection))
    return earned_of(snapshot.carry["handling_fees"])


def earned_of(rows: list[list]) -> Earned:
    return {(centre, currency): amount for centre, currency, amount in rows}


def per_currency(per_party: dict[tuple[str, str], int]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for (_, currency), amount in per_party.items():
        totals[currency] = totals.get(currency, 0) + amount
    return totals


async def handling_fees_match_terms(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Contract 8.1: every collection's handling fee is the one of the terms in force at its occurred_at for
    its battery's sku and currency (none for an orphan or a cancelled sale's battery), and is what the scheme
    asked the ledger to pay the centre."""
    rows = [jsonable(row) for row in await figures.handling_fee_offenders(connection)]
    snapshot.carry["terms_digest"] = await figures.terms_digest(connection)
    carry_keys(snapshot.carry, "handling_fee_offenders", [row["collection"] for row in rows])
    return handling_fees_check(await handling_fees(connection, snapshot), rows)


def handling_fees_check(earned: Earned, offenders_found: list[dict]) -> Check:
    return Check(
        "handling_fees_match_terms",
        not offenders_found,
        0,
        len(offenders_found),
        {"handling_fees_earned": sorted_money(per_currency(earned)), "differing": offenders(offenders_found)},
    )


async def refunds_once(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Invariant 3: at most one refund entry per serial, each equal to the deposit charged at sale."""
    twice = [jsonable(row) for row in await figures.refunded_twice(connection)]
    wrong = [jsonable(row) for row in await figures.refunds_not_deposit(connection)]
    total = await figures.refund_entry_count(connection)
    snapshot.carry["refund_entries"] = total
    carry_keys(snapshot.carry, "refund_offenders", sorted({row["serial"] for row in twice + wrong}))
    return refunds_check(total, twice, wrong)


def refunds_check(total: int, twice: list[dict], wrong: list[dict]) -> Check:
    return Check(
        "refunds_once",
        not twice and not wrong,
        0,
        len(twice) + len(wrong),
        {
            "refund_entries": total,
            "refunded_twice": offenders(twice),
            "amount_not_deposit_charged": offenders(wrong),
        },
    )


async def payments(connection: asyncpg.Connection, snapshot: Snapshot) -> Paid:
    """Every payment of the scheme (contract 8.1), totalled per counterparty and currency; read once a run."""
    if "payments" not in snapshot.carry:
        snapshot.carry["payments"] = sorted(await figures.payments(connection))
    return paid_of(snapshot.carry["payments"])


def paid_of(rows: list[list]) -> Paid:
    return {(kind, party, currency): amount for kind, party, currency, amount in rows}


def paid_by(paid: Paid, kind: str) -> dict[tuple[str, str], int]:
    """The payments of one kind of counterparty, per (id, currency)."""
    return {(party, currency): amount for (k, party, currency), amount in paid.items() if k == kind}


def less(left: dict, right: dict) -> dict:
    return {key: left.get(key, 0) - right.get(key, 0) for key in set(left) | set(right)}


async def store_settlement(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Per store: clearing debit - credit = deposits + fees of its items not cancelled (suspense included),
    nor held in suspense and returned to the store by finance (contract 8.1), - what it paid the scheme."""
    owed = in_place_totals.owed(await in_place.sale_item_totals(connection, snapshot))
    return store_check(owed, await payments(connection, snapshot), snapshot)


def store_check(charged: dict[tuple[str, str], int], paid: Paid, snapshot: Snapshot) -> Check:
    owed = less(charged, paid_by(paid, "store"))
    ledger = {k: -v for k, v in snapshot.credit_net_by_party(STORE_CLEARING).items()}
    in_flight = {k: -v for k, v in snapshot.credit_net_by_party(STORE_CLEARING, in_flight=True).items()}
    return _settlement("store_settlement", "store_id", owed, ledger, in_flight)


async def centre_settlement(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Per centre: clearing credit - debit = the refunds it paid out + the handling fees it earned - what the
    scheme paid it."""
    refunded = await figures.centre_refunds(connection)
    snapshot.carry["refunds"] = [
        [centre, currency, amount] for (centre, currency), amount in sorted(refunded.items())
    ]
    return centre_check(
        refunded, await handling_fees(connection, snapshot), await payments(connection, snapshot), snapshot
    )


def centre_check(
    refunded: dict[tuple[str, str], int], earned: Earned, paid: Paid, snapshot: Snapshot
) -> Check:
    owed = less(add_pairs(refunded, earned), paid_by(paid, "centre"))
    return _settlement(
        "centre_settlement",
        "centre_id",
        owed,
        snapshot.credit_net_by_party(CENTRE_CLEARING),
        snapshot.credit_net_by_party(CENTRE_CLEARING, in_flight=True),
    )


async def bank_account(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Contract 8.1: bank:scheme debit - credit = payments received (from stores) - payments made (to centres
    and the recycler), per currency, from the scheme's payments."""
    return bank_check(await payments(connection, snapshot), snapshot)


def bank_check(paid: Paid, snapshot: Snapshot) -> Check:
    received: dict[str, int] = {}
    made: dict[str, int] = {}
    for (kind, _, currency), amount in paid.items():
        side = received if kind == "store" else made
        side[currency] = side.get(currency, 0) + amount
    expected = add(received, {currency: -amount for currency, amount in made.items()})
    ledger = {currency: -net for currency, net in snapshot.credit_net(BANK).items()}
    in_flight = {currency: -net for currency, net in snapshot.credit_net(BANK, in_flight=True).items()}
    return money_check(
        "bank_account",
        expected,
        ledger,
        in_flight,
        account=BANK,
        payments_received=sorted_money(received),
        payments_made=sorted_money(made),
    )


def _settlement(name: str, party: str, expected: dict, ledger: dict, in_flight: dict) -> Check:
    parties = sorted(set(expected) | set(ledger) | set(in_flight))
    differing = [
        {
            party: p,
            "currency": c,
            "expected": expected.get((p, c), 0),
            "ledger": ledger.get((p, c), 0),
            "in_flight": in_flight.get((p, c), 0),
        }
        for p, c in parties
        if expected.get((p, c), 0) != ledger.get((p, c), 0) + in_flight.get((p, c), 0)
    ]
    return Check(
        name,
        not differing,
        _total(expected),
        _total(add_pairs(ledger, in_flight)),
        {
            "parties": len({p for p, _ in parties}),
            "in_flight": _total(in_flight),
            "differing": offenders(differing),
        },
    )


def add_pairs(left: dict, right: dict) -> dict:
    return {key: left.get(key, 0) + right.get(key, 0) for key in set(left) | set(right)}


def _total(per_party: dict[tuple[str, str], int]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for (_, currency), amount in per_party.items():
        totals[currency] = totals.get(currency, 0) + amount
    return sorted_money(totals)
