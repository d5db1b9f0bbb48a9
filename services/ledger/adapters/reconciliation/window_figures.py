"""What an incremental run reads: the rows of its window, the transactions the previous run's watermark does
not see (each table's `txid`, indexed). The tables the scheme updates in place: `in_place_figures.py`.

`$1` of every query is the previous watermark (a `pg_snapshot` as text); `$2`, where there is one, the keys
the previous run named (postings, entries, serials, collections), looked at again whatever their window.
Totals are summed in numeric and read as integers (`minor_units`): each amount fits a bigint, their sums need
not.
"""

from __future__ import annotations

import uuid

import asyncpg

from services.common.money import minor_units, rows_in_minor_units
from services.ledger.adapters.reconciliation import closing_figures, money_figures
from services.ledger.adapters.reconciliation.unposted import Amounts

# $1 is the previous watermark; each table's BRIN index is on txid as a bigint (revisions 0014 and 0015).
WINDOW_OF = (
    "{t}.txid::text::bigint >= pg_snapshot_xmin($1::text::pg_snapshot)::text::bigint "
    "AND NOT pg_visible_in_snapshot({t}.txid, $1::text::pg_snapshot)"
)
IN_WINDOW, IN_WINDOW_BRIN = WINDOW_OF.format(t="e"), WINDOW_OF.format(t="t")
OR_CARRIED = f"(({IN_WINDOW}) OR e.entry_id = ANY($2::uuid[]))"  # $2: entries the previous run named
# The serials the window changed in place (added, removed, or their custody or deposit charged changed): the
# rows the triggers of revision 0023 wrote to `scheme.battery_deltas`. Read in the statement that uses them:
# sent back as a parameter, a window's 660,901 serials took the database session to 276 MB (223 MB of it
# the message and the planning of `= ANY`, element by element).
CHANGED_SERIALS = f"""
    SELECT s.serial FROM scheme.battery_deltas t CROSS JOIN LATERAL unnest(t.serials) AS s(serial)
     WHERE {IN_WINDOW_BRIN}"""
LINES = "unnest(e.accounts, e.currencies, e.debits, e.credits) AS l(account, currency, debit, credit)"

WINDOW_LINES_SQL = f"""
    SELECT l.account, l.currency, sum(l.debit), sum(l.credit)
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
# The window's refund entries and those of the window's changed serials and the serials given ($2), each
# branch through its own index, each battery looked up by key (one condition over both, and a join, had the
# planner read the journal and the batteries whole).
REFUND_AMOUNT = f"""(SELECT sum(l.debit) FROM {LINES}
                        WHERE l.account IN ({money_figures.REFUNDED_FROM})) AS amount"""
REFUND_AMOUNTS_SQL = f"""
    SELECT r.subject AS serial, r.posting_key, r.amount, b.deposit_charged FROM (
        SELECT e.seq, e.posting_key, e.subject, {REFUND_AMOUNT}
          FROM ledger.entries e WHERE e.kind = 'refund' AND {IN_WINDOW}
        UNION
        SELECT e.seq, e.posting_key, e.subject, {REFUND_AMOUNT}
          FROM ({CHANGED_SERIALS} UNION SELECT unnest($2::text[])) AS s(serial)
          CROSS JOIN LATERAL (  -- OFFSET 0: a lookup per serial, not flattened into a join over the journal
              SELECT * FROM ledger.entries x WHERE x.kind = 'refund' AND x.subject = s.serial OFFSET 0) AS e
        ) AS r
      LEFT JOIN LATERAL (SELECT x.deposit_charged FROM scheme.batteries x WHERE x.serial = r.subject) AS b
        ON true
     WHERE r.amount IS DISTINCT FROM b.deposit_charged ORDER BY r.seq DESC"""
WINDOW_MOVEMENTS_SQL = f"""
    SELECT t.account, t.currency, sum(t.debit), sum(t.credit)
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
    SELECT t.centre_id, t.currency, sum(t.amount)
      FROM scheme.refunds t WHERE {IN_WINDOW_BRIN} GROUP BY 1, 2"""
WINDOW_COSTS_SQL = f"""
    SELECT t.currency, sum(t.cost) FROM scheme.recoveries t WHERE {IN_WINDOW_BRIN} GROUP BY 1"""
WINDOW_PAYMENTS_SQL = f"""
    SELECT t.counterparty_kind, t.counterparty_id, t.currency, sum(t.amount) FROM scheme.payments t
     WHERE {IN_WINDOW_BRIN} GROUP BY 1, 2, 3"""
WINDOW_HANDLING_FEES_SQL = f"""
    SELECT centre_id, currency, sum(fee) FROM (
        SELECT t.centre_id, t.handling_fee_currency AS currency, t.handling_fee AS fee
          FROM scheme.collections t
         WHERE t.handling_fee > 0 AND {IN_WINDOW_BRIN}
        UNION ALL
        SELECT c.centre_id, t.handling_fee_currency, t.handling_fee
          FROM scheme.late_sales t JOIN scheme.collections c ON c.event_id = t.collection_event_id
         WHERE t.handling_fee > 0 AND {IN_WINDOW_BRIN}) AS f GROUP BY 1, 2"""
# The collections logged in the window, and those a late sale of the window settled.
WINDOW_COLLECTIONS = f"""
    SELECT t.event_id FROM scheme.collections t WHERE {IN_WINDOW_BRIN}
    UNION SELECT t.collection_event_id FROM scheme.late_sales t WHERE {IN_WINDOW_BRIN}"""
# Those and the collections given ($2), each looked up by key (OFFSET 0: not flattened into a scan of them
# all).
COLLECTIONS_BY_KEY = f"""({WINDOW_COLLECTIONS} UNION SELECT unnest($2::uuid[])) AS k(event_id)
          CROSS JOIN LATERAL (
              SELECT * FROM scheme.collections x WHERE x.event_id = k.event_id OFFSET 0) AS t"""
# The window's batteries: changed in place, or given a custody record.
WINDOW_BATTERIES = (
    f"{CHANGED_SERIALS} UNION SELECT t.serial FROM scheme.custody_history t WHERE {IN_WINDOW_BRIN}"
)


async def movements(connection: asyncpg.Connection, since: str) -> Amounts:
    return await _amounts(connection, WINDOW_MOVEMENTS_SQL, since)


async def lines(connection: asyncpg.Connection, since: str) -> Amounts:
    return await _amounts(connection, WINDOW_LINES_SQL, since)


async def unposted(
    connection: asyncpg.Connection, since: str, named: list[str], from_txid: int | None
) -> list[dict]:
    """Postings with no entry: from the transaction `from_txid` (the oldest in flight before) or the window's
    start on, and those named; newest first."""
    return [dict(row) for row in await connection.fetch(UNPOSTED_SQL, since, named, from_txid)]


async def entry_counts(connection: asyncpg.Connection, since: str) -> asyncpg.Record:
    """The window's `entries` and `refunds` (entries of kind refund)."""
    return await connection.fetchrow(WINDOW_COUNTS_SQL, since)


async def unbalanced(connection: asyncpg.Connection, since: str, named: list[str]) -> list[asyncpg.Record]:
    return await connection.fetch(WINDOW_UNBALANCED_SQL, since, named)


async def untraced(connection: asyncpg.Connection, since: str, named: list[str]) -> list[asyncpg.Record]:
    return await connection.fetch(WINDOW_TRACED_SQL, since, named)


async def reversals_waiting(
    connection: asyncpg.Connection, since: str, named: list[str]
) -> list[asyncpg.Record]:
    return await connection.fetch(REVERSALS_SQL, since, named)


async def posting_count(connection: asyncpg.Connection, since: str) -> int:
    return await connection.fetchval(WINDOW_POSTINGS_SQL, since)


async def refunded_twice(
    connection: asyncpg.Connection, since: str, named: list[str]
) -> list[asyncpg.Record]:
    return await connection.fetch(REFUNDED_TWICE_SQL, since, named)


async def refunds_not_deposit(connection: asyncpg.Connection, since: str, serials: list[str]) -> list[dict]:
    """The refund entries whose amount is not their battery's deposit charged: the window's, and those of the
    window's changed batteries and of `serials`."""
    return rows_in_minor_units(await connection.fetch(REFUND_AMOUNTS_SQL, since, serials), "amount")


async def payments(connection: asyncpg.Connection, since: str) -> list[tuple[str, str, str, int]]:
    """(counterparty kind, id, currency, total) of the window's payments."""
    rows = await connection.fetch(WINDOW_PAYMENTS_SQL, since)
    return [(row[0], row[1], row[2], minor_units(row[3])) for row in rows]


async def handling_fees(connection: asyncpg.Connection, since: str) -> list[tuple[str, str, int]]:
    """(centre id, currency, total) of the handling fees earned in the window."""
    rows = await connection.fetch(WINDOW_HANDLING_FEES_SQL, since)
    return [(row[0], row[1], minor_units(row[2])) for row in rows]


async def handling_fee_offenders(connection: asyncpg.Connection, since: str, named: list[str]) -> list[dict]:
    """The offenders among the window's collections, those a late sale of the window settled, and those
    named.

    The collections are found first (by window, through each table's index), then looked up by key: one
    condition over two tables' windows had the planner read every collection and every battery. Both in one
    statement: with some 650,000 keys sent back as a parameter, the run's session peaked at 122 MB, 84 MB
    without."""
    sql = money_figures.HANDLING_FEE_OFFENDERS_SQL.format(collections=COLLECTIONS_BY_KEY, where="true")
    keys = [uuid.UUID(key) for key in named]
    return money_figures.offender_rows(await connection.fetch(sql, since, keys))


async def stray_returns(connection: asyncpg.Connection, since: str, named: list[str]) -> list[asyncpg.Record]:
    """The suspense-return entries of the window, and those named, with no returned_to_store resolution."""
    where = f"({IN_WINDOW}) OR e.entry_id = ANY($2::uuid[])"
    return await connection.fetch(closing_figures.STRAY_RETURNS_SQL.format(where=where), since, named)


async def recovery_costs(connection: asyncpg.Connection, since: str) -> list[tuple[str, int]]:
    """(currency, total) of the window's recovery costs."""
    return [(row[0], minor_units(row[1])) for row in await connection.fetch(WINDOW_COSTS_SQL, since)]


async def refunds(connection: asyncpg.Connection, since: str) -> list[tuple[str, str, int]]:
    """(centre id, currency, total) of the window's refunds."""
    rows = await connection.fetch(WINDOW_REFUNDS_SQL, since)
    return [(row[0], row[1], minor_units(row[2])) for row in rows]


async def inbox(connection: asyncpg.Connection, since: str) -> list[asyncpg.Record]:
    return await connection.fetch(WINDOW_INBOX_SQL, since)


async def _amounts(connection: asyncpg.Connection, sql: str, since: str) -> Amounts:
    rows = await connection.fetch(sql, since)
    return {(row[0], row[1]): (minor_units(row[2]), minor_units(row[3])) for row in rows}
