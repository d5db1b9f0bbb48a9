"""Read models: the battery body of contract section 6 (HTTP and `takeback battery`)."""

from __future__ import annotations

import asyncpg


def _party(kind: str | None, id_: str | None) -> dict | None:
    return None if kind is None else {"kind": kind, "id": id_}


async def battery_view(pool: asyncpg.Pool, serial: str) -> dict | None:
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        battery = await connection.fetchrow("SELECT * FROM scheme.batteries WHERE serial = $1", serial)
        if battery is None:
            return None
        history = await connection.fetch(
            "SELECT * FROM scheme.custody_history WHERE serial = $1 ORDER BY seq", serial
        )
    return {
        "serial": battery["serial"],
        "state": battery["state"],
        "contract": battery["contract"],
        "sku": battery["sku"],
        "category": battery["category"],
        "chemistry": battery["chemistry"],
        "deposit_charged": battery["deposit_charged"],
        "deposit_refunded": battery["deposit_refunded"],
        "deposit_released": battery["deposit_released"],
        "currency": battery["currency"],
        "custodian": _party(battery["custodian_kind"], battery["custodian_id"]),
        "history": _chain(history),
    }


def _chain(history: list) -> list[dict]:
    """The lines in seq order, which is occurred_at order (a late sale's line is seq 0, before the orphan's
    collection).

    Each line's `from` is the custodian before it: as recorded, else (the orphan's collection after a late
    sale, recorded when nobody was known to hold the battery) the previous line's `to`: the chain has no gap.
    """
    lines, before = [], None
    for row in history:
        to = _party(row["to_kind"], row["to_id"])
        lines.append(
            {
                "at": row["at"].isoformat(),
                "event_id": str(row["event_id"]),
                "event_type": row["event_type"],
                "from": _party(row["from_kind"], row["from_id"]) or before,
                "to": to,
                "state": row["state"],
            }
        )
        before = to
    return lines
