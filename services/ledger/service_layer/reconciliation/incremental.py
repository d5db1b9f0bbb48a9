"""An incremental run: the checks of a full run, over what changed since the previous run's watermark.

The journal and the scheme's append-only tables are read by window (the rows
whose transaction the previous watermark does not see: `txid`, indexed), and
their totals are the previous run's carried totals plus the window's. The two
tables the scheme updates in place (batteries, sale items) are not read whole:
every statement that changes them records its changes (revision 0023, by
trigger, in its own transaction, whoever wrote it), and the run adds the
window's to the carried totals; a battery the window added, removed, or whose
custody or deposit charged changed is checked against its custody records and
its refunds.
Postings in flight, reversals waiting for their entry and the offenders of the
checks that name entries or batteries are carried by key and looked at again:
a fault stays named for as long as it is there.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import asyncpg

from contracts.postings import entry_id_for
from services.ledger.adapters.reconciliation import money_figures
from services.ledger.adapters.reconciliation import window_figures as figures
from services.ledger.domain import in_place_totals as in_place_sums
from services.ledger.domain.checks import Check
from services.ledger.service_layer.reconciliation import closing_checks as closing
from services.ledger.service_layer.reconciliation import in_place
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


async def run(
    connection: asyncpg.Connection, snapshot: Snapshot, previous: PreviousRun
) -> tuple[list[Check], dict]:
    """The checks (names and order of a full run), each over the window and the carried totals; the new
    totals."""
    carried, since = previous.carried, previous.watermark
    snapshot = await _snapshot(connection, snapshot, since, carried)
    batteries, items = await in_place.carry_forward(connection, since, carried, snapshot)
    paid = await _payments(connection, since, carried, snapshot)
    earned = await _handling_fees(connection, since, carried, snapshot)
    checks = [
        await _entries_balanced(connection, since, carried, snapshot),
        journal.trial_balance_check(journal.per_currency(_amounts(snapshot.carry["lines"]))),
        journal.movements_check(_amounts(snapshot.carry["lines"]), snapshot.ledger),
        await _traced(connection, since, carried, snapshot),
        await _postings(connection, since, carried, snapshot),
        await journal.postings_delivered(connection, snapshot),
        money.liability_check(in_place_sums.liability(batteries), snapshot),
        await _refunds(connection, since, carried, snapshot),
        *await _fund_and_stores(connection, since, carried, snapshot, paid, earned, items),
        await _centres(connection, since, carried, snapshot, paid, earned),
        money.bank_check(paid, snapshot),
        closing.reserve_check(*in_place_sums.released(batteries), snapshot),
        await closing.resolved_money_in_window(connection, snapshot, since, carried),
        await _fees_match_terms(connection, since, carried, snapshot, earned),
        await _events(connection, since, carried, snapshot),
        await _custody(connection, since, in_place_sums.batteries(batteries), carried, snapshot),
    ]
    return checks, snapshot.carry


async def _snapshot(
    connection: asyncpg.Connection, snapshot: Snapshot, since: str, carried: dict
) -> Snapshot:
    """The balances (carried movements + the window's) and the postings in flight (carried ones + the
    window's)."""
    movements = _add(_amounts(carried["movements"]), await figures.movements(connection, since))
    unposted = await figures.unposted(
        connection, since, carried.get("unposted", []), carried.get("unposted_from")
    )
    txids: dict[str, int | None] = {}
    missing, in_flight, in_flight_amounts = await split_unposted(connection, unposted, txids)
    lines = _add(_amounts(carried["lines"]), await figures.lines(connection, since))
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
    counts = await figures.entry_counts(connection, since)
    rows = await figures.unbalanced(connection, since, carried.get("unbalanced", []))
    carry_keys(snapshot.carry, "unbalanced", [str(row["entry_id"]) for row in rows])
    unbalanced = [{key: value for key, value in jsonable(row).items() if key != "entry_id"} for row in rows]
    snapshot.carry["entries"] = carried["entries"] + counts["entries"]
    snapshot.carry["refund_entries"] = carried["refund_entries"] + counts["refunds"]
    return journal.balanced_check(
        snapshot.carry["entries"], unbalanced, 0, entries_in_window=counts["entries"]
    )


async def _traced(connection, since: str, carried: dict, snapshot: Snapshot) -> Check:
    rows = [jsonable(row) for row in await figures.untraced(connection, since, carried.get("untraced", []))]
    carry_keys(snapshot.carry, "untraced", [str(entry_id_for(row["posting_key"])) for row in rows])
    grace_start = snapshot.as_of - timedelta(seconds=journal.POSTING_GRACE_S)
    waiting = await figures.reversals_waiting(connection, since, carried.get("reversals_pending", []))
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
    snapshot.carry["postings"] = carried["postings"] + await figures.posting_count(connection, since)
    return journal.postings_check(snapshot.carry["postings"], snapshot)


async def _refunds(connection, since: str, carried: dict, snapshot: Snapshot) -> Check:
    named = carried.get("refund_offenders", [])
    twice = [jsonable(row) for row in await figures.refunded_twice(connection, since, named)]
    wrong = [jsonable(row) for row in await figures.refunds_not_deposit(connection, since, named)]
    carry_keys(snapshot.carry, "refund_offenders", sorted({row["serial"] for row in twice + wrong}))
    return money.refunds_check(snapshot.carry["refund_entries"], twice, wrong)


async def _payments(connection, since: str, carried: dict, snapshot: Snapshot) -> money.Paid:
    paid: Counter[tuple[str, str, str]] = Counter(money.paid_of(carried["payments"]))
    for kind, party, currency, amount in await figures.payments(connection, since):
        paid[(kind, party, currency)] += amount
    snapshot.carry["payments"] = sorted([k, p, c, a] for (k, p, c), a in paid.items())
    return dict(paid)


async def _handling_fees(connection, since: str, carried: dict, snapshot: Snapshot) -> money.Earned:
    earned: Counter[tuple[str, str]] = Counter(money.earned_of(carried["handling_fees"]))
    for centre, currency, amount in await figures.handling_fees(connection, since):
        earned[(centre, currency)] += amount
    snapshot.carry["handling_fees"] = sorted([c, k, a] for (c, k), a in earned.items())
    return dict(earned)


async def _fees_match_terms(
    connection, since: str, carried: dict, snapshot: Snapshot, earned: money.Earned
) -> Check:
    """The window's collections and those named before; all of them again when any terms changed (terms are
    updated in place: a fee published again for a past date changes what earlier collections should have
    earned)."""
    digest = await money_figures.terms_digest(connection)
    snapshot.carry["terms_digest"] = digest
    if digest != carried.get("terms_digest"):
        rows = await money_figures.handling_fee_offenders(connection)
    else:
        rows = await figures.handling_fee_offenders(
            connection, since, carried.get("handling_fee_offenders", [])
        )
    found = [jsonable(row) for row in rows]
    carry_keys(snapshot.carry, "handling_fee_offenders", [row["collection"] for row in found])
    return money.handling_fees_check(earned, found)


async def _fund_and_stores(
    connection,
    since: str,
    carried: dict,
    snapshot: Snapshot,
    paid: money.Paid,
    earned: money.Earned,
    items: in_place_sums.SaleItemTotals,
) -> list[Check]:
    fees, owed = in_place_sums.fees_in_market(items), in_place_sums.owed(items)
    costs = dict(carried["recovery_costs"])
    for currency, cost in await figures.recovery_costs(connection, since):
        costs[currency] = costs.get(currency, 0) + cost
    snapshot.carry["recovery_costs"] = costs
    return [money.fund_check(fees, costs, earned, snapshot), money.store_check(owed, paid, snapshot)]


async def _centres(
    connection, since: str, carried: dict, snapshot: Snapshot, paid: money.Paid, earned: money.Earned
) -> Check:
    refunded: Counter[tuple[str, str]] = Counter({(c, k): a for c, k, a in carried["refunds"]})
    for centre, currency, amount in await figures.refunds(connection, since):
        refunded[(centre, currency)] += amount
    snapshot.carry["refunds"] = [[c, k, a] for (c, k), a in sorted(refunded.items())]
    return money.centre_check(dict(refunded), earned, paid, snapshot)


async def _events(connection, since: str, carried: dict, snapshot: Snapshot) -> Check:
    counts: Counter[tuple[str, str]] = Counter({(t, o): n for t, o, n in carried["inbox"]})
    without_reason = carried["rejected_without_reason"]
    for row in await figures.inbox(connection, since):
        counts[(row["event_type"], row["outcome"])] += row["events"]
        without_reason += row["without_reason"]
    by_type = [(t, o, n) for (t, o), n in sorted(counts.items())]
    snapshot.carry["inbox"], snapshot.carry["rejected_without_reason"] = (
        [list(r) for r in by_type],
        without_reason,
    )
    return scheme.events_check(by_type, without_reason)


async def _custody(connection, since: str, batteries: int, carried: dict, snapshot: Snapshot) -> Check:
    checked, rows = await scheme.inconsistent_in_window(connection, since, carried.get("inconsistent", []))
    carry_keys(snapshot.carry, "inconsistent", [row["serial"] for row in rows])
    return scheme.custody_check(batteries, rows, batteries_checked=checked)


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
