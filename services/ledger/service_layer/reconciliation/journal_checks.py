"""Checks of the journal itself, and of its trace to what the scheme asked for."""
from __future__ import annotations

from datetime import timedelta

import asyncpg

from services.ledger.domain.checks import Check, offenders
from services.ledger.service_layer.rows import jsonable
from services.ledger.service_layer.reconciliation.snapshot import Snapshot

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
        "(SELECT 1 FROM ledger.entries e WHERE e.entry_id = l.entry_id)")
    entries = await connection.fetchval("SELECT count(*) FROM ledger.entries")
    return Check("entries_balanced", not unbalanced and orphan_lines == 0, 0, len(unbalanced),
                 {"entries": entries, "unbalanced": offenders(unbalanced), "lines_without_entry": orphan_lines})


async def trial_balance_zero(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Debits equal credits over the whole journal, per currency."""
    rows = await connection.fetch(
        "SELECT currency, sum(debit)::bigint AS debit, sum(credit)::bigint AS credit "
        "FROM ledger.lines GROUP BY currency ORDER BY currency")
    net = {row["currency"]: row["debit"] - row["credit"] for row in rows}
    return Check("trial_balance_zero", all(v == 0 for v in net.values()), {c: 0 for c in net}, net,
                 {"totals": {row["currency"]: {"debit": row["debit"], "credit": row["credit"]} for row in rows}})


async def movements_match_lines(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """The balances (sums of movements) agree with the journal lines, account by account."""
    rows = [jsonable(row) for row in await connection.fetch("""
        WITH l AS (SELECT account, currency, sum(debit)::bigint AS debit, sum(credit)::bigint AS credit
                     FROM ledger.lines GROUP BY 1, 2),
             m AS (SELECT account, currency, sum(debit)::bigint AS debit, sum(credit)::bigint AS credit
                     FROM ledger.account_movements GROUP BY 1, 2)
        SELECT coalesce(l.account, m.account) AS account, coalesce(l.currency, m.currency) AS currency,
               l.debit AS lines_debit, l.credit AS lines_credit,
               m.debit AS movements_debit, m.credit AS movements_credit
          FROM l FULL JOIN m ON l.account = m.account AND l.currency = m.currency
         WHERE (l.debit, l.credit) IS DISTINCT FROM (m.debit, m.credit)
         ORDER BY 1, 2""")]
    return Check("movements_match_lines", not rows, 0, len(rows), {"accounts_differing": offenders(rows)})


# Each side's lines of an entry reduce to (count, sum of a 64-bit hash per line): an order-free digest of the
# multiset of lines, computed by hash aggregation (no sort, no JSON built per entry).
TRACED_SQL = """
    WITH posted AS (
        SELECT entry_id, count(*) AS lines,
               sum(hashtextextended(account || '|' || currency || '|' || debit || '|' || credit, 0)::numeric) AS digest
          FROM ledger.lines GROUP BY entry_id),
    asked AS (
        SELECT p.posting_key, count(*) AS lines,
               sum(hashtextextended((x->>'account') || '|' || (x->>'currency') || '|' || ((x->>'debit')::bigint)
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
    """Every entry was asked for by the scheme (same posting key, same lines); a reversal reverses an entry."""
    grace_start = snapshot.as_of - timedelta(seconds=POSTING_GRACE_S)
    rows = [jsonable(row) for row in await connection.fetch(TRACED_SQL, grace_start)]
    return Check("ledger_traced_to_scheme", not rows, 0, len(rows), {"untraced": offenders(rows)})


async def scheme_postings_in_ledger(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """Every posting the scheme asked for is in the ledger or in flight; one posted then removed fails."""
    asked = await connection.fetchval("SELECT count(*) FROM scheme.postings")
    missing = [jsonable(p) for p in snapshot.missing_postings]
    accounted = asked - len(missing)
    return Check("scheme_postings_in_ledger", not missing, asked, accounted,
                 {"in_ledger": asked - len(missing) - len(snapshot.in_flight_postings),
                  "in_flight": len(snapshot.in_flight_postings), "removed_from_ledger": offenders(missing)})


async def postings_delivered(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    """No posting stays in flight longer than POSTING_GRACE_S: the ledger keeps up, or says why not."""
    late_before = snapshot.as_of - timedelta(seconds=POSTING_GRACE_S)
    late = [jsonable(p) for p in snapshot.in_flight_postings if p["created_at"] < late_before]
    unpostable = await connection.fetch(
        "SELECT key, error, received_at FROM ledger.unpostable ORDER BY seq DESC LIMIT 10")
    unpostable_count = await connection.fetchval("SELECT count(*) FROM ledger.unpostable")
    return Check("postings_delivered", not late, 0, len(late),
                 {"grace_s": POSTING_GRACE_S, "in_flight": len(snapshot.in_flight_postings), "late": offenders(late),
                  "unpostable_messages": unpostable_count, "latest_unpostable": [jsonable(r) for r in unpostable]})
