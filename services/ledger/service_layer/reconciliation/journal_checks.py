"""Checks of the journal itself, and of its trace to what the scheme asked for."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from contracts.postings import entry_id_for
from services.ledger.adapters.reconciliation import journal_figures as figures
from services.ledger.domain.checks import Check, offenders
from services.ledger.service_layer.reconciliation.snapshot import Amounts, Snapshot
from services.ledger.service_layer.reconciliation.window import carry_keys
from services.ledger.service_layer.rows import jsonable

POSTING_GRACE_S = 300  # a posting in flight longer than this is not delivered: a check fails


async def entries_balanced(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Invariant 1, recomputed from the lines: every entry balances per currency, with two lines or more."""
    unbalanced = [jsonable(row) for row in await figures.unbalanced_entries(connection)]
    orphan_lines = await figures.lines_without_entry(connection)
    entries = await figures.entry_count(connection)
    snapshot.carry["entries"] = entries
    carry_keys(snapshot.carry, "unbalanced", [str(entry_id_for(row["posting_key"])) for row in unbalanced])
    return balanced_check(entries, unbalanced, orphan_lines)


def balanced_check(entries: int, unbalanced: list[dict], orphan_lines: int, **details) -> Check:
    return Check(
        "entries_balanced",
        not unbalanced and orphan_lines == 0,
        0,
        len(unbalanced),
        {
            "entries": entries,
            "unbalanced": offenders(unbalanced),
            "lines_without_entry": orphan_lines,
            **details,
        },
    )


async def trial_balance_zero(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Debits equal credits over the whole journal, per currency."""
    return trial_balance_check(await figures.totals_per_currency(connection))


def trial_balance_check(totals: dict[str, tuple[int, int]], **details) -> Check:
    net = {currency: debit - credit for currency, (debit, credit) in sorted(totals.items())}
    return Check(
        "trial_balance_zero",
        all(v == 0 for v in net.values()),
        {c: 0 for c in net},
        net,
        {"totals": {c: {"debit": d, "credit": k} for c, (d, k) in sorted(totals.items())}, **details},
    )


def per_currency(amounts: Amounts) -> dict[str, tuple[int, int]]:
    """Debit and credit totals per currency, from totals per account and currency."""
    totals: dict[str, tuple[int, int]] = {}
    for (_, currency), (debit, credit) in amounts.items():
        before = totals.get(currency, (0, 0))
        totals[currency] = (before[0] + debit, before[1] + credit)
    return totals


async def movements_match_lines(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """The balances (sums of movements) agree with the journal lines, account by account."""
    lines = await figures.lines_per_account(connection)
    snapshot.carry["lines"], snapshot.carry["movements"] = amounts_json(lines), amounts_json(snapshot.ledger)
    return movements_check(lines, snapshot.ledger)


def movements_check(lines: Amounts, movements: Amounts, **details) -> Check:
    rows = [
        {
            "account": account,
            "currency": currency,
            "lines_debit": lines.get((account, currency), (None, None))[0],
            "lines_credit": lines.get((account, currency), (None, None))[1],
            "movements_debit": movements.get((account, currency), (None, None))[0],
            "movements_credit": movements.get((account, currency), (None, None))[1],
        }
        for account, currency in sorted(set(lines) | set(movements))
        if lines.get((account, currency)) != movements.get((account, currency))
    ]
    return Check(
        "movements_match_lines", not rows, 0, len(rows), {"accounts_differing": offenders(rows), **details}
    )


def amounts_json(amounts: Amounts) -> list[list]:
    return [
        [account, currency, debit, credit] for (account, currency), (debit, credit) in sorted(amounts.items())
    ]


def amounts_from_json(rows: list[list]) -> Amounts:
    return {(account, currency): (debit, credit) for account, currency, debit, credit in rows}


async def ledger_traced_to_scheme(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Every entry was asked for by the scheme (same posting key, same lines); a reversal reverses an
    entry."""
    grace_start = snapshot.as_of - timedelta(seconds=POSTING_GRACE_S)
    rows = [jsonable(row) for row in await figures.untraced_entries(connection, grace_start)]
    carry_keys(
        snapshot.carry,
        "reversals_pending",
        [str(row[0]) for row in await figures.pending_reversals(connection)],
    )
    carry_keys(
        snapshot.carry,
        "untraced",
        [str(entry_id_for(row["posting_key"])) for row in rows if row["problem"] != "reverses_no_entry"],
    )
    return Check("ledger_traced_to_scheme", not rows, 0, len(rows), {"untraced": offenders(rows)})


async def scheme_postings_in_ledger(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Every posting the scheme asked for is in the ledger or in flight; one posted then removed fails."""
    asked = await figures.scheme_posting_count(connection)
    snapshot.carry["postings"] = asked
    return postings_check(asked, snapshot)


def postings_check(asked: int, snapshot: Snapshot, **details) -> Check:
    missing = [jsonable(p) for p in snapshot.missing_postings]
    accounted = asked - len(missing)
    return Check(
        "scheme_postings_in_ledger",
        not missing,
        asked,
        accounted,
        {
            "in_ledger": asked - len(missing) - len(snapshot.in_flight_postings),
            "in_flight": len(snapshot.in_flight_postings),
            "removed_from_ledger": offenders(missing),
            **details,
        },
    )


async def postings_delivered(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """No posting stays in flight longer than POSTING_GRACE_S: the ledger keeps up, or says why not."""
    late_before = snapshot.as_of - timedelta(seconds=POSTING_GRACE_S)
    late = [jsonable(p) for p in snapshot.in_flight_postings if p["created_at"] < late_before]
    unpostable = await figures.latest_unpostable(connection)
    unpostable_count = await figures.unpostable_count(connection)
    return Check(
        "postings_delivered",
        not late,
        0,
        len(late),
        {
            "grace_s": POSTING_GRACE_S,
            "in_flight": len(snapshot.in_flight_postings),
            "late": offenders(late),
            "unpostable_messages": unpostable_count,
            "latest_unpostable": [jsonable(r) for r in unpostable],
        },
    )
