"""Contract 8.1's invariants of what finance closes: the unclaimed-deposit reserve, and resolutions' money.

- `unclaimed_reserve`: reserve:unclaimed_deposits = deposits released - refunds of released batteries
  (a released battery whose sale was cancelled has its release reversed, and counts in neither).
- `resolved_money_moved_once`: each `returned_to_store` resolution has exactly one suspense-return entry of
  the held amount (none when the store's cancellation of the held item had already reversed it); no
  suspense-return entry without such a resolution; each `written_off` battery is `lost`.

A full run reads every resolution and every suspense-return entry; an incremental run reads the
resolutions whole too (finance resolves by hand: they stay few), and of the journal only the entries of its
window and the offenders the previous run named.
"""

from __future__ import annotations

import asyncpg

from contracts.accounts import RESERVE, STORE_SUSPENSE, sql_like
from services.ledger.domain.checks import Check, money_check, offenders, sorted_money
from services.ledger.service_layer.reconciliation.snapshot import Snapshot
from services.ledger.service_layer.reconciliation.window import carry_keys
from services.ledger.service_layer.rows import jsonable

SUSPENSE_RETURN = "suspense_return"

# Released deposits and the refunds of released batteries, per currency (one pass over the batteries).
RESERVE_SQL = """
    SELECT currency, sum(deposit_charged)::bigint AS released, sum(deposit_refunded)::bigint AS refunded
      FROM scheme.batteries WHERE deposit_released GROUP BY currency"""

ENTRY_LINES = "unnest(e.accounts, e.currencies, e.debits, e.credits) AS l(account, currency, debit, credit)"
# Every returned_to_store resolution: what it holds, what the item became, and what moved out of suspense
# (in the ledger, or still in flight as the scheme's posting request).
RETURNS_SQL = f"""
    SELECT r.discrepancy_id, d.subject AS serial, d.details->>'store_id' AS store_id,
           (d.details->>'held_in_suspense')::bigint AS held, i.status AS item_status,
           (SELECT sum(l.debit) FROM {ENTRY_LINES} WHERE l.account LIKE '{sql_like(STORE_SUSPENSE)}')::bigint
               AS moved,
           (SELECT sum((x->>'debit')::bigint) FROM jsonb_array_elements(p.lines) AS x
             WHERE x->>'account' LIKE '{sql_like(STORE_SUSPENSE)}')::bigint AS asked,
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


async def unclaimed_reserve(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    rows = await connection.fetch(RESERVE_SQL)
    return reserve_check(
        {r["currency"]: r["released"] for r in rows}, {r["currency"]: r["refunded"] for r in rows}, snapshot
    )


def reserve_check(released: dict[str, int], refunded: dict[str, int], snapshot: Snapshot) -> Check:
    expected = {
        currency: released.get(currency, 0) - refunded.get(currency, 0)
        for currency in set(released) | set(refunded)
    }
    return money_check(
        "unclaimed_reserve",
        expected,
        snapshot.credit_net(RESERVE),
        snapshot.credit_net(RESERVE, in_flight=True),
        account=RESERVE,
        deposits_released=sorted_money(released),
        refunds_of_released=sorted_money(refunded),
    )


async def resolved_money_moved_once(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    stray = await connection.fetch(STRAY_RETURNS_SQL.format(where="true"))
    return await _resolutions_check(connection, snapshot, stray)


async def resolved_money_in_window(
    connection: asyncpg.Connection, snapshot: Snapshot, window: str, since: str, carried: dict
) -> Check:
    """The incremental form: `window` is the SQL condition of entries in the window ($1 the watermark)."""
    where = f"({window}) OR e.entry_id = ANY($2::uuid[])"
    stray = await connection.fetch(
        STRAY_RETURNS_SQL.format(where=where), since, carried.get("stray_returns", [])
    )
    return await _resolutions_check(connection, snapshot, stray)


async def _resolutions_check(connection: asyncpg.Connection, snapshot: Snapshot, stray: list) -> Check:
    carry_keys(snapshot.carry, "stray_returns", [str(row["entry_id"]) for row in stray])
    in_flight = {p["posting_key"] for p in snapshot.in_flight_postings}
    returns = [jsonable(row) for row in await connection.fetch(RETURNS_SQL)]
    wrong = [
        dict(row, problem=problem)
        for row in returns
        if (problem := _return_problem(row, f"{SUSPENSE_RETURN}:{row['discrepancy_id']}" in in_flight))
    ]
    not_lost = [jsonable(row) for row in await connection.fetch(NOT_LOST_SQL)]
    strays = [{"posting_key": row["posting_key"], "serial": row["subject"]} for row in stray]
    return Check(
        "resolved_money_moved_once",
        not wrong and not strays and not not_lost,
        0,
        len(wrong) + len(strays) + len(not_lost),
        {
            "returned_to_store": len(returns),
            "not_moved_once": offenders(wrong),
            "returned_without_resolution": offenders(strays),
            "written_off_not_lost": offenders(not_lost),
        },
    )


def _return_problem(row: dict, in_flight: bool) -> str | None:
    """Why a returned_to_store resolution's money did not move exactly once, or None."""
    if row["item_status"] == "cancelled":  # the store's cancellation reversed the held money before finance
        return "returned_after_cancellation" if row["posted"] or row["requested"] else None
    if row["item_status"] != "returned_to_store":
        return f"held_item_{row['item_status'] or 'missing'}"
    moved = row["moved"] if row["posted"] else (row["asked"] if in_flight else None)
    if moved is None:
        return "not_moved"
    return None if moved == row["held"] else "amount_differs"
