"""An incremental run: the checks of a full run, over what changed since the previous run's watermark.

The journal and the scheme's append-only tables are read by window (the rows
whose transaction the previous watermark does not see: `txid`, indexed), and
their totals are the previous run's carried totals plus the window's. The two
tables the scheme updates in place (batteries, sale items) are read once each,
sequentially: their sums are recomputed whole, and a battery row rewritten
since the watermark (its `xmin`, the transaction of its latest version, is in
the window) is checked against its custody records, whoever rewrote it.
Postings in flight, reversals waiting for their entry and the offenders of the
checks that name entries or batteries are carried by key and looked at again:
a fault stays named for as long as it is there.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import asyncpg

from contracts.postings import entry_id_for
from services.ledger.domain.checks import Check
from services.ledger.service_layer.reconciliation import closing_checks as closing
from services.ledger.service_layer.reconciliation import journal_checks as journal
from services.ledger.service_layer.reconciliation import money_checks as money
from services.ledger.service_layer.reconciliation import scheme_checks as scheme
from services.ledger.service_layer.reconciliation.snapshot import (
    Amounts,
    Snapshot,
    carry_unposted,
    split_unposted,
)
from services.ledger.service_layer.reconciliation.window import CARRY_VERSION, PreviousRun, carry_keys
from services.ledger.service_layer.rows import jsonable

# $1 is the previous watermark; each table's BRIN index is on txid as a bigint (revisions 0014 and 0015).
WINDOW_OF = (
    "{t}.txid::text::bigint >= pg_snapshot_xmin($1::text::pg_snapshot)::text::bigint "
    "AND NOT pg_visible_in_snapshot({t}.txid, $1::text::pg_snapshot)"
)
IN_WINDOW, IN_WINDOW_BRIN = WINDOW_OF.format(t="e"), WINDOW_OF.format(t="t")
OR_CARRIED = f"(({IN_WINDOW}) OR e.entry_id = ANY($2::uuid[]))"  # $2: entries the previous run named
LINES = "unnest(e.accounts, e.currencies, e.debits, e.credits) AS l(account, currency, debit, credit)"

WINDOW_LINES_SQL = f"""
    SELECT l.account, l.currency, sum(l.debit)::bigint, sum(l.credit)::bigint
      FROM ledger.entries e CROSS JOIN LATERAL {LINES} WHERE {IN_WINDOW} GROUP BY 1, 2"""
WINDOW_COUNTS_SQL = f"""
    SELECT count(*) AS entries, count(*) FILTER (WHERE e.kind = 'refund') AS refunds
      FROM ledger.entries e WHERE {IN_WINDOW}"""
WINDOW_UNBALANCED_SQL = f"""
    SELECT entry_id, posting_key, kind, subject, lines FROM (
        SELECT e.entry_id, e.seq, e.posting_key, e.kind, e.subject, cardinality(e.accounts) AS lines,
               (SELECT bool_and(balanced) FROM (SELECT sum(l.debit) = sum(l.credit) AS balanced
                                                  FROM {LINES} GROUP BY l.currency) AS c) AS balanced
          FROM ledger.entries e WHERE {OR_CARRIED}) AS w
     WHERE lines < 2 OR NOT coalesce(balanced, false) ORDER BY seq DESC"""
LINE_DIGEST = (
    "hashtextextended(l.account || '|' || l.currency || '|' || l.debit || '|' || l.credit, 0)::numeric"
)
ASKED_DIGEST = (
    "hashtextextended((x->>'account') || '|' || (x->>'currency') || '|' || ((x->>'debit')::bigint) "
    "|| '|' || ((x->>'credit')::bigint), 0)::numeric"
)
# Each window entry's lines reduced to (count, digest) in its own row, then its posting request by key:
# no join the planner could get wrong (a window's size is not known to it).
WINDOW_TRACED_SQL = f"""
    WITH w AS MATERIALIZED (
        SELECT e.seq, e.posting_key, e.kind, e.subject, cardinality(e.accounts) AS lines,
               (SELECT sum({LINE_DIGEST}) FROM {LINES}) AS digest
          FROM ledger.entries e WHERE {OR_CARRIED})
    SELECT w.posting_key, w.kind, w.subject,
           CASE WHEN p.posting_key IS NULL THEN 'not_asked_by_scheme' ELSE 'lines_differ' END AS problem
      FROM w LEFT JOIN scheme.postings p ON p.posting_key = w.posting_key
     WHERE p.posting_key IS NULL
        OR (jsonb_array_length(p.lines), (SELECT sum({ASKED_DIGEST}) FROM jsonb_array_elements(p.lines) AS x))
           IS DISTINCT FROM (w.lines, w.digest)
     ORDER BY w.seq DESC"""
# Reversals of the window, and those carried, whose reversed entry is not in the journal.
REVERSALS_SQL = f"""
    SELECT e.entry_id, e.seq, e.posting_key, e.kind, e.subject, e.posted_at FROM ledger.entries e
     WHERE e.reverses IS NOT NULL AND (e.entry_id = ANY($2::uuid[]) OR ({IN_WINDOW}))
       AND NOT EXISTS (SELECT 1 FROM ledger.entries r WHERE r.entry_id = e.reverses)
     ORDER BY e.seq DESC"""
REFUNDED_TWICE_SQL = f"""
    WITH serials AS (SELECT e.subject FROM ledger.entries e WHERE e.kind = 'refund' AND {IN_WINDOW}
                     UNION SELECT unnest($2::text[]))
    SELECT e.subject AS serial, count(*) AS refunds, array_agg(e.posting_key ORDER BY e.seq) AS posting_keys
      FROM ledger.entries e WHERE e.kind = 'refund' AND e.subject IN (SELECT subject FROM serials)
     GROUP BY e.subject HAVING count(*) > 1 ORDER BY max(e.seq) DESC"""
REFUND_AMOUNTS_SQL = f"""
    SELECT r.subject AS serial, r.posting_key, r.amount, b.deposit_charged FROM (
        SELECT e.seq, e.posting_key, e.subject,
               (SELECT sum(l.debit) FROM {LINES} WHERE l.account IN ({money.REFUNDED_FROM}))::bigint AS amount
          FROM ledger.entries e
         WHERE e.kind = 'refund' AND (({IN_WINDOW}) OR e.subject = ANY($2::text[]))) AS r
      LEFT JOIN scheme.batteries b ON b.serial = r.subject
     WHERE r.amount IS DISTINCT FROM b.deposit_charged ORDER BY r.seq DESC"""
WINDOW_MOVEMENTS_SQL = f"""
    SELECT t.account, t.currency, sum(t.debit)::bigint, sum(t.credit)::bigint
      FROM ledger.account_movements t WHERE {IN_WINDOW_BRIN} GROUP BY 1, 2"""
NO_ENTRY = "NOT EXISTS (SELECT 1 FROM ledger.entries e WHERE e.entry_id = ledger.entry_id_for(t.posting_key))"
# Postings with no entry: from the oldest in flight at the previous run ($3) or the window's start on,
# and those the previous run carried by key ($2).
UNPOSTED_SQL = f"""
    SELECT t.posting_key, t.kind, t.subject, t.created_at, t.txid::text::bigint AS txid FROM scheme.postings t
     WHERE (t.txid::text::bigint >= least(pg_snapshot_xmin($1::text::pg_snapshot)::text::bigint, $3::bigint)
            OR t.posting_key = ANY($2::text[])) AND {NO_ENTRY}
     ORDER BY t.created_at DESC"""
WINDOW_POSTINGS_SQL = f"SELECT count(*) FROM scheme.postings t WHERE {IN_WINDOW_BRIN}"
WINDOW_INBOX_SQL = f"""
    SELECT t.event_type, t.outcome, count(*) AS events,
           count(*) FILTER (WHERE t.outcome = 'rejected' AND t.reason IS NULL) AS without_reason
      FROM scheme.inbox t WHERE {IN_WINDOW_BRIN} GROUP BY 1, 2"""
WINDOW_REFUNDS_SQL = f"""
    SELECT t.centre_id, t.currency, sum(t.amount)::bigint
      FROM scheme.refunds t WHERE {IN_WINDOW_BRIN} GROUP BY 1, 2"""
WINDOW_COSTS_SQL = f"""
    SELECT t.currency, sum(t.cost)::bigint FROM scheme.recoveries t WHERE {IN_WINDOW_BRIN} GROUP BY 1"""
WINDOW_PAYMENTS_SQL = f"""
    SELECT t.counterparty_kind, t.counterparty_id, t.currency, sum(t.amount)::bigint FROM scheme.payments t
     WHERE {IN_WINDOW_BRIN} GROUP BY 1, 2, 3"""
WINDOW_HANDLING_FEES_SQL = f"""
    SELECT centre_id, currency, sum(fee)::bigint FROM (
        SELECT t.centre_id, t.handling_fee_currency AS currency, t.handling_fee AS fee
          FROM scheme.collections t
         WHERE t.handling_fee > 0 AND {IN_WINDOW_BRIN}
        UNION ALL
        SELECT c.centre_id, t.handling_fee_currency, t.handling_fee
          FROM scheme.late_sales t JOIN scheme.collections c ON c.event_id = t.collection_event_id
         WHERE t.handling_fee > 0 AND {IN_WINDOW_BRIN}) AS f GROUP BY 1, 2"""
WINDOW_CUSTODY_SQL = f"SELECT DISTINCT t.serial FROM scheme.custody_history t WHERE {IN_WINDOW_BRIN}"
# One pass over the batteries: the deposits in use per currency, and the rows rewritten since the watermark
# (`xmin` is 32 bits: `age` keeps those at most as old as the watermark's xmin, then the full id is rebuilt
# from the watermark's epoch and tested against it). A frozen row's age is the maximum: never in a window.
BATTERIES_SQL = """
    WITH w AS (SELECT pg_snapshot_xmin($1::text::pg_snapshot)::text::bigint AS lo)
    SELECT b.currency, count(*) AS batteries,
           sum(b.deposit_charged) FILTER (
               WHERE b.state = 'in_use' AND b.contract = 'deposit' AND NOT b.deposit_released
           )::bigint AS liability,
           sum(b.deposit_charged) FILTER (WHERE b.deposit_released)::bigint AS released,
           sum(b.deposit_refunded) FILTER (WHERE b.deposit_released)::bigint AS refunded_of_released,
           array_agg(b.serial) FILTER (
               WHERE age(b.xmin) <= age((w.lo % 4294967296)::text::xid)
                 AND NOT pg_visible_in_snapshot(
                     ((w.lo >> 32 << 32) + b.xmin::text::bigint
                      + CASE WHEN b.xmin::text::bigint < w.lo % 4294967296 THEN 4294967296 ELSE 0
                      END)::text::xid8,
                     $1::text::pg_snapshot)) AS changed
      FROM scheme.batteries b, w GROUP BY b.currency"""
SALE_ITEMS_SQL = """
    SELECT s.store_id, s.currency,
           sum(i.deposit + i.recycling_fee) FILTER (
               WHERE i.status NOT IN ('cancelled', 'returned_to_store'))::bigint AS owed,
           sum(i.recycling_fee) FILTER (WHERE i.status = 'in_market')::bigint AS fees
      FROM scheme.sale_items i JOIN scheme.sales s USING (sale_id) GROUP BY 1, 2"""


async def run(
    connection: asyncpg.Connection, snapshot: Snapshot, previous: PreviousRun
) -> tuple[list[Check], dict]:
    """The checks (names and order of a full run), each over the window and the carried totals; the new
    totals."""
    carried, since = previous.carried, previous.watermark
    batteries, liability, reserve, changed = await _batteries(connection, since)
    snapshot = await _snapshot(connection, snapshot, since, carried)
    paid = await _payments(connection, since, carried, snapshot)
    earned = await _handling_fees(connection, since, carried, snapshot)
    checks = [
        await _entries_balanced(connection, since, carried, snapshot),
        journal.trial_balance_check(journal.per_currency(_amounts(snapshot.carry["lines"]))),
        journal.movements_check(_amounts(snapshot.carry["lines"]), snapshot.ledger),
        await _traced(connection, since, carried, snapshot),
        await _postings(connection, since, carried, snapshot),
        await journal.postings_delivered(connection, snapshot),
        money.liability_check(liability, snapshot),
        await _refunds(connection, since, carried, snapshot, changed),
        *await _fund_and_stores(connection, since, carried, snapshot, paid, earned),
        await _centres(connection, since, carried, snapshot, paid, earned),
        money.bank_check(paid, snapshot),
        closing.reserve_check(*reserve, snapshot),
        await closing.resolved_money_in_window(connection, snapshot, IN_WINDOW, since, carried),
        await _fees_match_terms(connection, since, carried, snapshot, earned),
        await _events(connection, since, carried, snapshot),
        await _custody(connection, since, batteries, changed + carried.get("inconsistent", []), snapshot),
    ]
    return checks, snapshot.carry


async def _snapshot(
    connection: asyncpg.Connection, snapshot: Snapshot, since: str, carried: dict
) -> Snapshot:
    """The balances (carried movements + the window's) and the postings in flight (carried ones + the
    window's)."""
    movements = _add(
        _amounts(carried["movements"]), await _fetch_amounts(connection, WINDOW_MOVEMENTS_SQL, since)
    )
    unposted = [
        dict(row)
        for row in await connection.fetch(
            UNPOSTED_SQL, since, carried.get("unposted", []), carried.get("unposted_from")
        )
    ]
    txids: dict[str, int | None] = {}
    missing, in_flight, in_flight_amounts = await split_unposted(connection, unposted, txids)
    lines = _add(_amounts(carried["lines"]), await _fetch_amounts(connection, WINDOW_LINES_SQL, since))
    carry = {
        "version": CARRY_VERSION,
        "lines": journal.amounts_json(lines),
        "movements": journal.amounts_json(movements),
    }
    carry_unposted(carry, in_flight, missing, txids)
    return Snapshot(
        snapshot.as_of, movements, in_flight_amounts, in_flight, missing, snapshot.watermark, carry
    )


async def _entries_balanced(connection, since: str, carried: dict, snapshot: Snapshot) -> Check:
    counts = await connection.fetchrow(WINDOW_COUNTS_SQL, since)
    rows = await connection.fetch(WINDOW_UNBALANCED_SQL, since, carried.get("unbalanced", []))
    carry_keys(snapshot.carry, "unbalanced", [str(row["entry_id"]) for row in rows])
    unbalanced = [{key: value for key, value in jsonable(row).items() if key != "entry_id"} for row in rows]
    snapshot.carry["entries"] = carried["entries"] + counts["entries"]
    snapshot.carry["refund_entries"] = carried["refund_entries"] + counts["refunds"]
    return journal.balanced_check(
        snapshot.carry["entries"], unbalanced, 0, entries_in_window=counts["entries"]
    )


async def _traced(connection, since: str, carried: dict, snapshot: Snapshot) -> Check:
    rows = [
        jsonable(row) for row in await connection.fetch(WINDOW_TRACED_SQL, since, carried.get("untraced", []))
    ]
    carry_keys(snapshot.carry, "untraced", [str(entry_id_for(row["posting_key"])) for row in rows])
    grace_start = snapshot.as_of - timedelta(seconds=journal.POSTING_GRACE_S)
    waiting = await connection.fetch(REVERSALS_SQL, since, carried.get("reversals_pending", []))
    rows += [
        {
            "posting_key": r["posting_key"],
            "kind": r["kind"],
            "subject": r["subject"],
            "problem": "reverses_no_entry",
        }
        for r in waiting
        if r["posted_at"] < grace_start
    ]
    carry_keys(snapshot.carry, "reversals_pending", [str(r["entry_id"]) for r in waiting])
    return Check("ledger_traced_to_scheme", not rows, 0, len(rows), {"untraced": journal.offenders(rows)})


async def _postings(connection, since: str, carried: dict, snapshot: Snapshot) -> Check:
    snapshot.carry["postings"] = carried["postings"] + await connection.fetchval(WINDOW_POSTINGS_SQL, since)
    return journal.postings_check(snapshot.carry["postings"], snapshot)


async def _refunds(connection, since: str, carried: dict, snapshot: Snapshot, changed: list[str]) -> Check:
    named = carried.get("refund_offenders", [])
    twice = [jsonable(row) for row in await connection.fetch(REFUNDED_TWICE_SQL, since, named)]
    wrong = [
        jsonable(row) for row in await connection.fetch(REFUND_AMOUNTS_SQL, since, sorted({*changed, *named}))
    ]
    carry_keys(snapshot.carry, "refund_offenders", sorted({row["serial"] for row in twice + wrong}))
    return money.refunds_check(snapshot.carry["refund_entries"], twice, wrong)


async def _payments(connection, since: str, carried: dict, snapshot: Snapshot) -> money.Paid:
    paid: Counter[tuple[str, str, str]] = Counter(money.paid_of(carried["payments"]))
    for kind, party, currency, amount in await connection.fetch(WINDOW_PAYMENTS_SQL, since):
        paid[(kind, party, currency)] += amount
    snapshot.carry["payments"] = sorted([k, p, c, a] for (k, p, c), a in paid.items())
    return dict(paid)


async def _handling_fees(connection, since: str, carried: dict, snapshot: Snapshot) -> money.Earned:
    earned: Counter[tuple[str, str]] = Counter(money.earned_of(carried["handling_fees"]))
    for centre, currency, amount in await connection.fetch(WINDOW_HANDLING_FEES_SQL, since):
        earned[(centre, currency)] += amount
    snapshot.carry["handling_fees"] = sorted([c, k, a] for (c, k), a in earned.items())
    return dict(earned)


async def _fees_match_terms(
    connection, since: str, carried: dict, snapshot: Snapshot, earned: money.Earned
) -> Check:
    """The window's collections and those named before; all of them again when any terms changed (terms are
    updated in place: a fee published again for a past date changes what earlier collections should have
    earned)."""
    digest = await connection.fetchval(money.TERMS_DIGEST_SQL)
    snapshot.carry["terms_digest"] = digest
    if digest != carried.get("terms_digest"):
        rows = await connection.fetch(money.HANDLING_FEE_OFFENDERS_SQL.format(where="true"))
    else:
        rows = await connection.fetch(
            money.HANDLING_FEE_OFFENDERS_SQL.format(
                where=f"({IN_WINDOW_BRIN}) OR ({WINDOW_OF.format(t='l')})"
                " OR t.event_id::text = ANY($2::text[])"
            ),
            since,
            carried.get("handling_fee_offenders", []),
        )
    found = [jsonable(row) for row in rows]
    carry_keys(snapshot.carry, "handling_fee_offenders", [row["collection"] for row in found])
    return money.handling_fees_check(earned, found)


async def _fund_and_stores(
    connection, since: str, carried: dict, snapshot: Snapshot, paid: money.Paid, earned: money.Earned
) -> list[Check]:
    fees: dict[str, int] = {}
    owed: dict[tuple[str, str], int] = {}
    for row in await connection.fetch(SALE_ITEMS_SQL):
        if row["fees"] is not None:
            fees[row["currency"]] = fees.get(row["currency"], 0) + row["fees"]
        if row["owed"] is not None:
            owed[(row["store_id"], row["currency"])] = row["owed"]
    costs = dict(carried["recovery_costs"])
    for currency, cost in await connection.fetch(WINDOW_COSTS_SQL, since):
        costs[currency] = costs.get(currency, 0) + cost
    snapshot.carry["recovery_costs"] = costs
    return [money.fund_check(fees, costs, earned, snapshot), money.store_check(owed, paid, snapshot)]


async def _centres(
    connection, since: str, carried: dict, snapshot: Snapshot, paid: money.Paid, earned: money.Earned
) -> Check:
    refunded: Counter[tuple[str, str]] = Counter({(c, k): a for c, k, a in carried["refunds"]})
    for centre, currency, amount in await connection.fetch(WINDOW_REFUNDS_SQL, since):
        refunded[(centre, currency)] += amount
    snapshot.carry["refunds"] = [[c, k, a] for (c, k), a in sorted(refunded.items())]
    return money.centre_check(dict(refunded), earned, paid, snapshot)


async def _events(connection, since: str, carried: dict, snapshot: Snapshot) -> Check:
    counts: Counter[tuple[str, str]] = Counter({(t, o): n for t, o, n in carried["inbox"]})
    without_reason = carried["rejected_without_reason"]
    for row in await connection.fetch(WINDOW_INBOX_SQL, since):
        counts[(row["event_type"], row["outcome"])] += row["events"]
        without_reason += row["without_reason"]
    by_type = [(t, o, n) for (t, o), n in sorted(counts.items())]
    snapshot.carry["inbox"], snapshot.carry["rejected_without_reason"] = (
        [list(r) for r in by_type],
        without_reason,
    )
    return scheme.events_check(by_type, without_reason)


async def _custody(connection, since: str, batteries: int, changed: list[str], snapshot: Snapshot) -> Check:
    recorded = [row[0] for row in await connection.fetch(WINDOW_CUSTODY_SQL, since)]
    serials = sorted(set(changed) | set(recorded))
    rows = await scheme.inconsistent_among(connection, serials)
    carry_keys(snapshot.carry, "inconsistent", [row["serial"] for row in rows])
    return scheme.custody_check(batteries, rows, batteries_checked=len(serials))


async def _batteries(
    connection, since: str
) -> tuple[int, dict[str, int], tuple[dict[str, int], dict[str, int]], list[str]]:
    """Batteries counted; the liability; deposits released and refunds of released ones; rows rewritten."""
    rows = await connection.fetch(BATTERIES_SQL, since)
    liability = {row["currency"]: row["liability"] for row in rows if row["liability"] is not None}
    released = {row["currency"]: row["released"] for row in rows if row["released"] is not None}
    refunded = {row["currency"]: row["refunded_of_released"] for row in rows if row["released"] is not None}
    changed = [serial for row in rows for serial in (row["changed"] or [])]
    return sum(row["batteries"] for row in rows), liability, (released, refunded), changed


async def _fetch_amounts(connection, sql: str, since: str) -> Amounts:
    return {(row[0], row[1]): (row[2], row[3]) for row in await connection.fetch(sql, since)}


def _amounts(rows: list[list]) -> Amounts:
    return journal.amounts_from_json(rows)


def _add(left: Amounts, right: Amounts) -> Amounts:
    return {
        key: (
            left.get(key, (0, 0))[0] + right.get(key, (0, 0))[0],
            left.get(key, (0, 0))[1] + right.get(key, (0, 0))[1],
        )
        for key in set(left) | set(right)
    }
