"""What the money checks read: the scheme's own records of money (batteries, sale items, refunds, recovery
costs, payments, handling fees) and the journal's refund entries.

Every total is summed in numeric and read as an integer (`minor_units`): each amount fits a bigint, their
sums need not."""

from __future__ import annotations

import asyncpg

from contracts.accounts import CENTRE_CLEARING, LIABILITY, RESERVE, sql_like
from services.common.money import minor_units, rows_in_minor_units

PAYMENTS_SQL = """
    SELECT counterparty_kind, counterparty_id, currency, sum(amount) FROM scheme.payments GROUP BY 1, 2, 3"""
# A collection earns its fee when logged, or (an orphan's) when a late sale settles it (`scheme.late_sales`).
HANDLING_FEES_SQL = """
    SELECT centre_id, currency, sum(fee) FROM (
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
# {collections} is where the collections come from (alias t), {where} picks among them.
HANDLING_FEE_OFFENDERS_SQL = f"""
    WITH c AS (
        SELECT t.event_id, t.serial, t.centre_id, coalesce(l.outcome, t.outcome) AS outcome, t.occurred_at,
               t.handling_fee::numeric + coalesce(l.handling_fee, 0) AS handling_fee,
               coalesce(t.handling_fee_currency, l.handling_fee_currency) AS handling_fee_currency, b.sku,
               b.currency,
               coalesce(l.sale_event_id, t.event_id) AS decided_by
          FROM {{collections}} JOIN scheme.batteries b USING (serial)
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
          SELECT sum((l->>'credit')::numeric) AS amount
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
               sum(l.debit) FILTER (WHERE l.account IN ({REFUNDED_FROM})) AS amount
          FROM ledger.entries e JOIN ledger.lines l USING (entry_id)
         WHERE e.kind = 'refund' GROUP BY e.entry_id)"""
RECOVERY_COSTS_SQL = "SELECT currency, sum(cost) FROM scheme.recoveries GROUP BY currency"
REFUNDED_TWICE_SQL = f"""
    {REFUNDS_CTE}
    SELECT subject AS serial, count(*) AS refunds, array_agg(posting_key ORDER BY seq) AS posting_keys
      FROM refunds GROUP BY subject HAVING count(*) > 1 ORDER BY max(seq) DESC"""
REFUND_NOT_DEPOSIT_SQL = f"""
    {REFUNDS_CTE}
    SELECT r.subject AS serial, r.posting_key, r.amount, b.deposit_charged
      FROM refunds r LEFT JOIN scheme.batteries b ON b.serial = r.subject
     WHERE r.amount IS DISTINCT FROM b.deposit_charged ORDER BY r.seq DESC"""
REFUND_ENTRIES_SQL = "SELECT count(*) FROM ledger.entries WHERE kind = 'refund'"
CENTRE_REFUNDS_SQL = "SELECT centre_id, currency, sum(amount) FROM scheme.refunds GROUP BY 1, 2"


async def _per_currency(connection: asyncpg.Connection, sql: str) -> dict[str, int]:
    return {row[0]: minor_units(row[1]) for row in await connection.fetch(sql)}


async def recovery_costs(connection: asyncpg.Connection) -> dict[str, int]:
    return await _per_currency(connection, RECOVERY_COSTS_SQL)


async def handling_fees_earned(connection: asyncpg.Connection) -> list[list]:
    """[centre id, currency, amount]: the handling fees the collections earned."""
    return [[row[0], row[1], minor_units(row[2])] for row in await connection.fetch(HANDLING_FEES_SQL)]


async def handling_fee_offenders(connection: asyncpg.Connection) -> list[dict]:
    """Every collection whose handling fee differs from its terms or from what was asked for it."""
    sql = HANDLING_FEE_OFFENDERS_SQL.format(collections="scheme.collections t", where="true")
    return offender_rows(await connection.fetch(sql))


async def terms_digest(connection: asyncpg.Connection) -> str:
    """A digest of every terms row's handling fee: it changes when any terms change."""
    return await connection.fetchval(TERMS_DIGEST_SQL)


async def refunded_twice(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    return await connection.fetch(REFUNDED_TWICE_SQL)


async def refunds_not_deposit(connection: asyncpg.Connection) -> list[dict]:
    """Refund entries whose amount is not the deposit charged for their battery."""
    return rows_in_minor_units(await connection.fetch(REFUND_NOT_DEPOSIT_SQL), "amount")


async def refund_entry_count(connection: asyncpg.Connection) -> int:
    return await connection.fetchval(REFUND_ENTRIES_SQL)


async def payments(connection: asyncpg.Connection) -> list[list]:
    """[counterparty kind, id, currency, total] of every payment."""
    return [[row[0], row[1], row[2], minor_units(row[3])] for row in await connection.fetch(PAYMENTS_SQL)]


async def centre_refunds(connection: asyncpg.Connection) -> dict[tuple[str, str], int]:
    """(centre id, currency) -> the refunds it paid out."""
    return {(row[0], row[1]): minor_units(row[2]) for row in await connection.fetch(CENTRE_REFUNDS_SQL)}


def offender_rows(rows: list[asyncpg.Record]) -> list[dict]:
    """The handling fee offenders, what they `earned` and what was `posted` (sums) as integers."""
    return rows_in_minor_units(rows, "earned", "posted")
