"""Checks of the journal itself, and of its trace to what the scheme asked for."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from contracts.postings import entry_id_for
from services.ledger.domain.checks import Check, offenders
from services.ledger.service_layer.reconciliation.snapshot import Amounts, Snapshot
from services.ledger.service_layer.reconciliation.window import carry_keys
from services.ledger.service_layer.rows import jsonable

POSTING_GRACE_S = 300  # a posting in flight longer than this is not delivered: a check fails

UNBALANCED_SQL = """
    SELECT posting_key, kind, subject, lines FROM (
        SELECT e.seq, e.posting_key, e.kind, e.subject, x.lines::int AS lines
          FROM (SELECT entry_id, sum(n) AS lines
                  FROM (SELECT entry_id, count(*) AS n, sum(debit) = sum(credit) AS balanced
                          FROM ledger.lines GROUP BY entry_id, currency) AS per_currency
                 GROUP BY entry_id HAVING sum(n) < 2 OR NOT bool_and(balanced)) AS x
          JOIN ledger.entries e USING (entry_id)
        UNION ALL
        SELECT e.seq, e.posting_key, e.kind, e.subject, 0 FROM ledger.entries e
         WHERE NOT EXISTS (SELECT 1 FROM ledger.lines l WHERE l.entry_id = e.entry_id)) AS offending
     ORDER BY seq DESC"""


async def entries_balanced(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Invariant 1, recomputed from the lines: every entry balances per currency, with two lines or more."""
    unbalanced = [jsonable(row) for row in await connection.fetch(UNBALANCED_SQL)]
    orphan_lines = await connection.fetchval(
        "SELECT count(*) FROM ledger.lines l WHERE NOT EXISTS "
        "(SELECT 1 FROM ledger.entries e WHERE e.entry_id = l.entry_id)"
    )
    entries = await connection.fetchval("SELECT count(*) FROM ledger.entries")
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
    rows = await connection.fetch(
        "SELECT currency, sum(debit)::bigint AS debit, sum(credit)::bigint AS credit "
        "FROM ledger.lines GROUP BY currency ORDER BY currency"
    )
    return trial_balance_check({row["currency"]: (row["debit"], row["credit"]) for row in rows})


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
    lines = {
        (row[0], row[1]): (row[2], row[3])
        for row in await connection.fetch(
            "SELECT account, currency, sum(debit)::bigint, sum(credit)::bigint"
            " FROM ledger.lines GROUP BY 1, 2"
        )
    }
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


# Each side's lines of an entry reduce to (count, sum of a 64-bit hash per line): an order-free digest of the
# multiset of lines, computed by hash aggregation (no sort, no JSON built per entry).
TRACED_SQL = """
    WITH posted AS (
        SELECT entry_id, count(*) AS lines,
               sum(hashtextextended(account || '|' || currency || '|' || debit || '|' || credit, 0)::numeric)
               AS digest
          FROM ledger.lines GROUP BY entry_id),
    asked AS (
        SELECT p.posting_key, count(*) AS lines,
               sum(hashtextextended((x->>'account') || '|' || (x->>'currency') || '|' ||
               ((x->>'debit')::bigint)
                                    || '|' || ((x->>'credit')::bigint), 0)::numeric) AS digest
          FROM scheme.postings p CROSS JOIN LATERAL jsonb_array_elements(p.lines) AS x GROUP BY p.posting_key)
    SELECT e.posting_key, e.kind, e.subject,
           CASE WHEN a.posting_key IS NULL THEN 'not_asked_by_scheme'
                WHEN (a.lines, a.digest) IS DISTINCT FROM (l.lines, l.digest) THEN 'lines_differ'
                ELSE 'reverses_no_entry' END AS problem
      FROM ledger.entries e LEFT JOIN posted l USING (entry_id) LEFT JOIN asked a USING (posting_key)
     WHERE a.posting_key IS NULL OR (a.lines, a.digest) IS DISTINCT FROM (l.lines, l.digest)
        OR (e.reverses IS NOT NULL AND e.posted_at < $1
            AND NOT EXISTS (SELECT 1 FROM ledger.entries r WHERE r.entry_id = e.reverses))
     ORDER BY e.seq DESC"""


async def ledger_traced_to_scheme(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Every entry was asked for by the scheme (same posting key, same lines); a reversal reverses an
    entry."""
    grace_start = snapshot.as_of - timedelta(seconds=POSTING_GRACE_S)
    rows = [jsonable(row) for row in await connection.fetch(TRACED_SQL, grace_start)]
    carry_keys(
        snapshot.carry,
        "reversals_pending",
        [str(row[0]) for row in await connection.fetch(REVERSALS_PENDING_SQL)],
    )
    carry_keys(
        snapshot.carry,
        "untraced",
        [str(entry_id_for(row["posting_key"])) for row in rows if row["problem"] != "reverses_no_entry"],
    )
    return Check("ledger_traced_to_scheme", not rows, 0, len(rows), {"untraced": offenders(rows)})


# Reversals whose reversed entry is not (yet) in the journal: the next run looks at them again.
REVERSALS_PENDING_SQL = """
    SELECT e.entry_id FROM ledger.entries e
     WHERE e.reverses IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger.entries r WHERE r.entry_id =
     e.reverses)"""


async def scheme_postings_in_ledger(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Every posting the scheme asked for is in the ledger or in flight; one posted then removed fails."""
    asked = await connection.fetchval("SELECT count(*) FROM scheme.postings")
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
    unpostable = await connection.fetch(
        "SELECT key, error, received_at FROM ledger.unpostable ORDER BY seq DESC LIMIT 10"
    )
    unpostable_count = await connection.fetchval("SELECT count(*) FROM ledger.unpostable")
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
