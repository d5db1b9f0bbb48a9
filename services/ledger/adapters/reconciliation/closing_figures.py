"""What the checks of finance's closing read: deposits released, and finance's resolutions with the money
they moved (in the journal, or asked for by the scheme). Totals are summed in numeric and read as integers
(`minor_units`)."""

from __future__ import annotations

import asyncpg

from contracts.accounts import STORE_SUSPENSE, sql_like
from services.common.money import rows_in_minor_units

# The posting kind of a suspense return, and its key's prefix (then the discrepancy id).
SUSPENSE_RETURN = "suspense_return"

ENTRY_LINES = "unnest(e.accounts, e.currencies, e.debits, e.credits) AS l(account, currency, debit, credit)"
# Every returned_to_store resolution: what it holds, what the item became, and what moved out of suspense
# (in the ledger, or still in flight as the scheme's posting request).
RETURNS_SQL = f"""
    SELECT r.discrepancy_id, d.subject AS serial, d.details->>'store_id' AS store_id,
           (d.details->>'held_in_suspense')::bigint AS held, i.status AS item_status,
           (SELECT sum(l.debit) FROM {ENTRY_LINES}
             WHERE l.account LIKE '{sql_like(STORE_SUSPENSE)}') AS moved,
           (SELECT sum((x->>'debit')::numeric) FROM jsonb_array_elements(p.lines) AS x
             WHERE x->>'account' LIKE '{sql_like(STORE_SUSPENSE)}') AS asked,
           e.entry_id IS NOT NULL AS posted, p.posting_key IS NOT NULL AS requested
      FROM scheme.discrepancy_resolutions r
      JOIN scheme.discrepancies d USING (discrepancy_id)
      LEFT JOIN scheme.sale_items i ON i.sale_id = d.details->>'sale_id' AND i.serial = d.subject
      LEFT JOIN scheme.postings p ON p.posting_key = '{SUSPENSE_RETURN}:' || r.discrepancy_id
      LEFT JOIN ledger.entries e ON e.entry_id = ledger.entry_id_for('{SUSPENSE_RETURN}:' || r.discrepancy_id)
     WHERE r.resolution = 'returned_to_store'
     ORDER BY r.resolved_at DESC, r.discrepancy_id"""
# Suspense-return entries ({where}: all, or a window's and the named ones) with no returned_to_store
# resolution.
STRAY_RETURNS_SQL = f"""
    SELECT e.entry_id, e.posting_key, e.subject FROM ledger.entries e
     WHERE e.kind = '{SUSPENSE_RETURN}' AND ({{where}})
       AND NOT EXISTS (SELECT 1 FROM scheme.discrepancy_resolutions r
                        WHERE '{SUSPENSE_RETURN}:' || r.discrepancy_id = e.posting_key
                          AND r.resolution = 'returned_to_store')
     ORDER BY e.seq DESC"""
NOT_LOST_SQL = """
    SELECT r.discrepancy_id, d.subject AS serial, b.state FROM scheme.discrepancy_resolutions r
      JOIN scheme.discrepancies d USING (discrepancy_id) LEFT JOIN scheme.batteries b ON b.serial = d.subject
     WHERE r.resolution = 'written_off' AND b.state IS DISTINCT FROM 'lost'
     ORDER BY r.resolved_at DESC, r.discrepancy_id"""


async def returned_to_store(connection: asyncpg.Connection) -> list[dict]:
    """Every returned_to_store resolution, with what it held and what moved out of suspense."""
    return rows_in_minor_units(await connection.fetch(RETURNS_SQL), "moved", "asked")


async def stray_returns(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every suspense-return entry with no returned_to_store resolution."""
    return await connection.fetch(STRAY_RETURNS_SQL.format(where="true"))


async def written_off_not_lost(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    return await connection.fetch(NOT_LOST_SQL)
