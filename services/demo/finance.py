"""The demo's finance desk (contract 8.1): it settles every month, resolves the discrepancies, releases the
deposits left unclaimed, and reads the settlement statement, all over HTTP with its finance key.

- Settling: after each month, the statement of everything up to now says what each counterparty owes or is
  owed; each store pays its positive closing balance, the scheme pays each centre's and the recycler's
  negative one (`payment.recorded`, dated just after the month). Everything up to now, not up to the month's
  end: on a stack that held an earlier run, whose events and payments interleave in time with this run's,
  the balance now is what is really outstanding (a cut at the month's end would pay the earlier run's
  charges again before its own later-dated payment lands). A store's balance counts its suspense, so a
  store never pays for a battery held in suspense and its payment is never above what its clearing
  account owes.
- Resolving: every open discrepancy of this run (its subject carries the run's tag) gets the resolution its
  kind allows: a serial sold twice is returned to the store, a battery missing in transit written off, the
  rest accepted.
- Releasing: once, the deposits of batteries sold in the first months and still not returned move to the
  reserve (`deposits.released`); one of them collected later is refunded from the reserve.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx

from services.common.gateway_client import get_body
from services.demo.world import CENTRES, RECYCLER, STORES, event

CURRENCY = "EUR"
STATEMENT_SINCE = "2000-01-01"  # a statement from here holds every balance the stack ever had
RESOLUTION_OF_KIND = {"serial_already_in_market": "returned_to_store", "missing_in_transit": "written_off"}
RESOLUTION_OTHERWISE = "accepted"
DISCREPANCY_PAGE_ROWS = 1000
DISCREPANCY_PAGES_MAX = 100  # bounded: at most this many pages of open discrepancies are read per round
PARTIES = {("store", s) for s in STORES} | {("centre", c) for c in CENTRES} | {("recycler", RECYCLER)}

# A phase's name and its events: sent, then waited for; how many the scheme applied (not rejected).
Send = Callable[[str, list[dict]], Awaitable[int]]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class FinanceDesk:
    def __init__(self, http: httpx.AsyncClient, key: str, run: str, send: Send):
        self.http, self.key, self.run, self.send = http, key, run, send
        self.payments = 0  # applied ones, as the counts below
        self.resolved = 0
        self.released = False

    async def statement(self, start: str, end: str) -> dict:
        path = "/v1/finance/settlement?" + urlencode({"from": start, "to": end})
        return await get_body(self.http, path, self.key, "reading the settlement statement")

    async def settle(self, label: str, paid_at: datetime) -> None:
        """Every demo counterparty's balance now paid, dated `paid_at`."""
        body = await self.statement(STATEMENT_SINCE, tomorrow())
        events = [self._payment(row, paid_at) for row in body["statements"] if self._owed(row)]
        self.payments += await self.send(f"{label} payments", events)

    def _owed(self, row: dict) -> bool:
        party = (row["counterparty"]["kind"], row["counterparty"]["id"])
        if party not in PARTIES or row["currency"] != CURRENCY:
            return False
        return row["closing"] > 0 if party[0] == "store" else row["closing"] < 0

    def _payment(self, row: dict, paid_at: datetime) -> dict:
        kind, party = row["counterparty"]["kind"], row["counterparty"]["id"]
        # To the second: the last month's settling (its end plus an hour, a day ago) and the closing one (now)
        # can fall on the same date, and one id for both refused the closing payment (duplicate_payment).
        payment_id = f"P-{self.run}-{paid_at.astimezone(UTC):%Y%m%dT%H%M%S}-{kind}-{party}"
        return event(
            "payment.recorded",
            "finance",
            "finance",
            iso(paid_at),
            {
                "payment_id": payment_id,
                "counterparty": {"kind": kind, "id": party},
                "amount": abs(row["closing"]),
                "currency": row["currency"],
                "value_date": f"{paid_at:%Y-%m-%d}",
                "reference": f"SEPA {uuid.uuid5(uuid.NAMESPACE_URL, payment_id).hex[:8]}",
            },
        )

    async def resolve(self, label: str, at: datetime) -> None:
        """Every open discrepancy of this run, resolved as its kind allows."""
        events = [
            event(
                "discrepancy.resolved",
                "finance",
                "finance",
                iso(at),
                {
                    "discrepancy_id": d["discrepancy_id"],
                    "resolution": RESOLUTION_OF_KIND.get(d["kind"], RESOLUTION_OTHERWISE),
                    "note": f"demo {self.run}: checked by finance",
                },
            )
            for d in await self._open_of_this_run()
        ]
        self.resolved += await self.send(f"{label} resolutions", events)

    async def _open_of_this_run(self) -> list[dict]:
        found, cursor = [], None
        for _ in range(DISCREPANCY_PAGES_MAX):
            query = {
                "status": "open",
                "limit": DISCREPANCY_PAGE_ROWS,
                **({"cursor": cursor} if cursor else {}),
            }
            page = await get_body(
                self.http, "/v1/discrepancies?" + urlencode(query), self.key, "reading the open discrepancies"
            )
            found += [d for d in page["discrepancies"] if f"-{self.run}-" in d["subject"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        return found

    async def release(self, release_id: str, sold_before: datetime, at: datetime) -> None:
        """The deposits of batteries sold before `sold_before` and still out, moved to the reserve."""
        assert sold_before <= at, "a release names batteries sold before it"
        self.released = 1 == await self.send(
            "unclaimed deposits released",
            [
                event(
                    "deposits.released",
                    "finance",
                    "finance",
                    iso(at),
                    {"release_id": release_id, "currency": CURRENCY, "sold_before": iso(sold_before)},
                )
            ],
        )


def settled(body: dict) -> dict:
    """The demo counterparties' closing balances, and whether every one is zero."""
    closing = {
        f"{r['counterparty']['kind']}:{r['counterparty']['id']}": r["closing"]
        for r in body["statements"]
        if (r["counterparty"]["kind"], r["counterparty"]["id"]) in PARTIES and r["currency"] == CURRENCY
    }
    return {
        "closing": closing,
        "largest_minor": max((abs(v) for v in closing.values()), default=0),
        "settled": all(v == 0 for v in closing.values()),
    }


def tomorrow() -> str:
    """The end of a statement that holds everything so far (no event occurs ahead of the clock)."""
    return (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
