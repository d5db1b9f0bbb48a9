"""The money invariants: the ledger (plus postings in flight) against the scheme's own records."""

from __future__ import annotations

import asyncpg

from contracts.accounts import BANK, CENTRE_CLEARING, FUND, LIABILITY, RESERVE, STORE_CLEARING, sql_like
from services.ledger.domain.checks import Check, add, money_check, offenders, sorted_money
from services.ledger.service_layer.reconciliation.snapshot import Snapshot
from services.ledger.service_layer.reconciliation.window import carry_keys
from services.ledger.service_layer.rows import jsonable

PAYMENTS_SQL = """
    SELECT counterparty_kind, counterparty_id, currency, sum(amount)::bigint FROM scheme.payments GROUP BY 1,
    2, 3"""
Paid = dict[tuple[str, str, str], int]  # (counterparty kind, id, currency) -> the payments' total
Earned = dict[tuple[str, str], int]  # (centre id, currency) -> the handling fees its collections earned
# A collection earns its fee when logged, or (an orphan's) when a late sale settles it (`scheme.late_sales`).
HANDLING_FEES_SQL = """
    SELECT centre_id, currency, sum(fee)::bigint FROM (
        SELECT centre_id, handling_fee_currency AS currency, handling_fee AS fee FROM scheme.collections
         WHERE handling_fee > 0
        UNION ALL
        SELECT c.centre_id, l.handling_fee_currency, l.handling_fee
          FROM scheme.late_sales l JOIN scheme.collections c ON c.event_id = l.collection_event_id
         WHERE l.handling_fee > 0) AS f GROUP BY 1, 2"""
# Each collection that earned a handling fee, or should have (its battery's sku has terms with one),
# against the terms in force at its occurred_at for the battery's sku and currency (a battery collected
# from the market: `refunded` or `lease_closed`; none else earns one) and against the posting the scheme
# asked for it. Terms applied after the event that decided the fee (published again since, for a date
# before it) are not held against it: the fee is decided once, by the terms the scheme had then.
# {where} picks the collections (alias t).
HANDLING_FEE_OFFENDERS_SQL = f"""
    WITH c AS (
        SELECT t.event_id, t.serial, t.centre_id, coalesce(l.outcome, t.outcome) AS outcome, t.occurred_at,
               t.handling_fee + coalesce(l.handling_fee, 0) AS handling_fee,
               coalesce(t.handling_fee_currency, l.handling_fee_currency) AS handling_fee_currency, b.sku,
               b.currency,
               coalesce(l.sale_event_id, t.event_id) AS decided_by
          FROM scheme.collections t JOIN scheme.batteries b USING (serial)
          LEFT JOIN scheme.late_sales l ON l.collection_event_id = t.event_id
         WHERE ({{where}})
           AND (t.handling_fee > 0 OR l.handling_fee > 0
                OR b.sku IN (SELECT sku FROM scheme.terms WHERE handling_fee > 0)))
    SELECT c.event_id::text AS collection, c.serial, c.centre_id, c.handling_fee AS earned,
           coalesce(terms.handling_fee, 0) AS terms_fee, terms.effective_from AS terms_effective_from,
           coalesce(posted.amount, 0) AS posted
      FROM c
      LEFT JOIN LATERAL (
          SELECT x.handling_fee, x.effective_from, x.event_id FROM scheme.terms x
           WHERE x.sku = c.sku AND x.currency = c.currency AND x.effective_from <= c.occurred_at
           ORDER BY x.effective_from DESC LIMIT 1) terms ON c.outcome IN ('refunded', 'lease_closed')
      LEFT JOIN LATERAL (
          SELECT sum((l->>'credit')::bigint)::bigint AS amount
            FROM scheme.postings p CROSS JOIN LATERAL jsonb_array_elements(p.lines) AS l
           WHERE p.posting_key = 'handling_fee:' || c.event_id
             AND l->>'account' LIKE '{sql_like(CENTRE_CLEARING)}') posted
        ON true
     WHERE (c.handling_fee <> coalesce(terms.handling_fee, 0)
            AND NOT coalesce((SELECT i.processed_at FROM scheme.inbox i WHERE i.event_id = terms.event_id)
                             > (SELECT i.processed_at FROM scheme.inbox i WHERE i.event_id = c.decided_by),
                             false))
        OR coalesce(posted.amount, 0) <> c.handling_fee
        OR (c.handling_fee > 0 AND c.handling_fee_currency IS DISTINCT FROM c.currency)
     ORDER BY c.occurred_at DESC"""
TERMS_DIGEST_SQL = """
    SELECT coalesce(md5(string_agg(concat_ws('|', sku, currency, effective_from, handling_fee), ','
                                   ORDER BY sku, currency, effective_from)), '') FROM scheme.terms"""


# The accounts a refund takes the deposit from: the liability, or the reserve once released (contract 8.1).
REFUNDED_FROM = f"'{LIABILITY}', '{RESERVE}'"
# Each refund entry with the amount it takes off the deposit liability (or the reserve).
REFUNDS_CTE = f"""
    WITH refunds AS (
        SELECT e.seq, e.posting_key, e.subject,
               (sum(l.debit) FILTER (WHERE l.account IN ({REFUNDED_FROM})))::bigint AS amount
          FROM ledger.entries e JOIN ledger.lines l USING (entry_id)
         WHERE e.kind = 'refund' GROUP BY e.entry_id)"""


async def _per_currency(connection: asyncpg.Connection, sql: str) -> dict[str, int]:
    return {row[0]: row[1] for row in await connection.fetch(sql)}


async def deposit_liability(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Invariant 2: liability:deposits = deposits of the batteries in use under a deposit, not released."""
    expected = await _per_currency(
        connection,
        """
        SELECT currency, sum(deposit_charged)::bigint FROM scheme.batteries
         WHERE state = 'in_use' AND contract = 'deposit' AND NOT deposit_released GROUP BY currency""",
    )
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
    fees = await _per_currency(
        connection,
        """
        SELECT s.currency, sum(i.recycling_fee)::bigint FROM scheme.sale_items i JOIN scheme.sales s USING
        (sale_id)
         WHERE i.status = 'in_market' GROUP BY s.currency""",
    )
    costs = await _per_currency(
        connection, "SELECT currency, sum(cost)::bigint FROM scheme.recoveries GROUP BY currency"
    )
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
        snapshot.carry["handling_fees"] = sorted(
            [row[0], row[1], row[2]] for row in await connection.fetch(HANDLING_FEES_SQL)
        )
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
    rows = [jsonable(row) for row in await connection.fetch(HANDLING_FEE_OFFENDERS_SQL.format(where="true"))]
    snapshot.carry["terms_digest"] = await connection.fetchval(TERMS_DIGEST_SQL)
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
    twice = [
        jsonable(row)
        for row in await connection.fetch(f"""
        {REFUNDS_CTE}
        SELECT subject AS serial, count(*) AS refunds, array_agg(posting_key ORDER BY seq) AS posting_keys
          FROM refunds GROUP BY subject HAVING count(*) > 1 ORDER BY max(seq) DESC""")
    ]
    wrong = [
        jsonable(row)
        for row in await connection.fetch(f"""
        {REFUNDS_CTE}
        SELECT r.subject AS serial, r.posting_key, r.amount, b.deposit_charged
          FROM refunds r LEFT JOIN scheme.batteries b ON b.serial = r.subject
         WHERE r.amount IS DISTINCT FROM b.deposit_charged ORDER BY r.seq DESC""")
    ]
    total = await connection.fetchval("SELECT count(*) FROM ledger.entries WHERE kind = 'refund'")
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
        snapshot.carry["payments"] = sorted(
            [row[0], row[1], row[2], row[3]] for row in await connection.fetch(PAYMENTS_SQL)
        )
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
    owed = {
        (row[0], row[1]): row[2]
        for row in await connection.fetch("""
        SELECT s.store_id, s.currency, sum(i.deposit + i.recycling_fee)::bigint
          FROM scheme.sale_items i JOIN scheme.sales s USING (sale_id)
         WHERE i.status NOT IN ('cancelled', 'returned_to_store') GROUP BY 1, 2""")
    }
    return store_check(owed, await payments(connection, snapshot), snapshot)


def store_check(charged: dict[tuple[str, str], int], paid: Paid, snapshot: Snapshot) -> Check:
    owed = less(charged, paid_by(paid, "store"))
    ledger = {k: -v for k, v in snapshot.credit_net_by_party(STORE_CLEARING).items()}
    in_flight = {k: -v for k, v in snapshot.credit_net_by_party(STORE_CLEARING, in_flight=True).items()}
    return _settlement("store_settlement", "store_id", owed, ledger, in_flight)


async def centre_settlement(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Per centre: clearing credit - debit = the refunds it paid out + the handling fees it earned - what the
    scheme paid it."""
    refunded = {
        (row[0], row[1]): row[2]
        for row in await connection.fetch(
            "SELECT centre_id, currency, sum(amount)::bigint FROM scheme.refunds GROUP BY 1, 2"
        )
    }
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
