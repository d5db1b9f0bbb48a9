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

from contracts.accounts import RESERVE
from services.ledger.adapters.reconciliation import closing_figures as figures
from services.ledger.adapters.reconciliation import window_figures
from services.ledger.adapters.reconciliation.closing_figures import SUSPENSE_RETURN
from services.ledger.domain import in_place_totals
from services.ledger.domain.checks import Check, money_check, offenders, sorted_money
from services.ledger.service_layer.reconciliation import in_place
from services.ledger.service_layer.reconciliation.snapshot import Snapshot
from services.ledger.service_layer.reconciliation.window import carry_keys
from services.ledger.service_layer.rows import jsonable


async def unclaimed_reserve(connection: asyncpg.Connection, snapshot: Snapshot) -> Check:
    released, refunded = in_place_totals.released(await in_place.battery_totals(connection, snapshot))
    return reserve_check(released, refunded, snapshot)


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
    stray = await figures.stray_returns(connection)
    return await _resolutions_check(connection, snapshot, stray)


async def resolved_money_in_window(
    connection: asyncpg.Connection, snapshot: Snapshot, since: str, carried: dict
) -> Check:
    """The incremental form: the stray entries among the window's (`since` the watermark) and those named."""
    stray = await window_figures.stray_returns(connection, since, carried.get("stray_returns", []))
    return await _resolutions_check(connection, snapshot, stray)


async def _resolutions_check(connection: asyncpg.Connection, snapshot: Snapshot, stray: list) -> Check:
    carry_keys(snapshot.carry, "stray_returns", [str(row["entry_id"]) for row in stray])
    in_flight = {p["posting_key"] for p in snapshot.in_flight_postings}
    returns = [jsonable(row) for row in await figures.returned_to_store(connection)]
    wrong = [
        dict(row, problem=problem)
        for row in returns
        if (problem := _return_problem(row, f"{SUSPENSE_RETURN}:{row['discrepancy_id']}" in in_flight))
    ]
    not_lost = [jsonable(row) for row in await figures.written_off_not_lost(connection)]
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
