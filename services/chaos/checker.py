"""Checks, from outside the stack, that it did what the model says with every event of the run.

Outcomes are read from `scheme.inbox`, refunds from `scheme.refunds`, the
journal from `ledger.entries` and `ledger.account_movements`; rejections that
have no inbox row (a conflict, a value too large to read) from the rejections
topic. Everything is compared with the model: nothing lost, nothing doubled.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass

import asyncpg

from services.chaos.events_out import EventsOut
from services.chaos.model import balances
from services.chaos.plan import CONFLICT, TOO_LARGE, Expectations
from services.common.money import minor_units
from services.common.outage import fetch

IDS_PER_QUERY = 5000
PROBLEMS_SHOWN_MAX = 10


@dataclass(frozen=True)
class Tally:
    """One kind of effect: how many the model expects, how many are missing, doubled, wrong or unexpected."""

    expected: int
    missing: int = 0
    doubled: int = 0
    wrong: int = 0
    unexpected: int = 0


@dataclass(frozen=True)
class Verdict:
    outcomes: Tally
    refunds: Tally
    entries: Tally
    balances: Tally
    problems: tuple[str, ...]

    @property
    def lost(self) -> int:
        return self.outcomes.missing + self.refunds.missing + self.entries.missing

    @property
    def doubled(self) -> int:
        return self.refunds.doubled + self.entries.doubled

    @property
    def wrong(self) -> int:
        """Effects other than the model's: a wrong outcome, an entry or refund it did not call for, a
        balance."""
        return sum(t.wrong + t.unexpected for t in (self.outcomes, self.refunds, self.entries, self.balances))


async def check(
    pool: asyncpg.Pool, expect: Expectations, out: EventsOut, positions: dict, low: str, high: str
) -> Verdict:
    problems: list[str] = []
    outcomes = await _outcomes(pool, expect, out, positions, problems)
    refunds = await _refunds(pool, expect, low, high, problems)
    entries = await _entries(pool, expect, low, high, problems)
    books = await _balances(pool, expect, problems)
    return Verdict(outcomes, refunds, entries, books, tuple(problems[:PROBLEMS_SHOWN_MAX]))


async def _outcomes(pool, expect: Expectations, out: EventsOut, positions: dict, problems: list) -> Tally:
    found: dict[str, tuple[str, str | None]] = {}
    ids = [uuid.UUID(i) for i in expect.events]
    for first in range(0, len(ids), IDS_PER_QUERY):
        rows = await fetch(
            pool,
            "SELECT event_id, outcome, reason FROM scheme.inbox WHERE event_id = ANY($1::uuid[])",
            ids[first : first + IDS_PER_QUERY],
        )
        found.update({str(r["event_id"]): (r["outcome"], r["reason"]) for r in rows})
    missing = [i for i in expect.events if i not in found]
    wrong = [i for i, item in expect.events.items() if i in found and found[i] != item.expected]
    for extra in expect.extras:
        reasons = _extra_reasons(extra, out, positions)
        if extra.kind in (CONFLICT, TOO_LARGE) and not reasons:
            missing.append(extra.event_id)
        elif extra.kind in (CONFLICT, TOO_LARGE) and extra.expected[1] not in reasons:
            wrong.append(extra.event_id)
    problems += [f"no outcome for {_name(expect, i) if i in expect.events else i}" for i in missing]
    problems += [
        f"{_name(expect, i)}: {found.get(i)}, expected {expect.events[i].expected}"
        for i in wrong
        if i in expect.events
    ]
    return Tally(len(expect.events) + len(expect.extras), missing=len(missing), wrong=len(wrong))


def _extra_reasons(extra, out: EventsOut, positions: dict) -> set[str]:
    """Reasons the rejections topic gives a conflict (by its id) or a value too large (by its position)."""
    if extra.kind == CONFLICT:
        return set(out.rejections_by_id.get(extra.event_id, set()))
    if extra.kind == TOO_LARGE:
        reasons = set(out.rejections_by_id.get(extra.event_id, set()))
        position = positions.get(extra.event_id)
        return reasons | (out.rejections_by_position.get(position, set()) if position else set())
    return set()


def _name(expect: Expectations, event_id: str) -> str:
    item = expect.events[event_id]
    return f"{item.event_type} {event_id} (key {item.key})"


async def _refunds(pool, expect: Expectations, low: str, high: str, problems: list) -> Tally:
    rows = await fetch(
        pool,
        "SELECT serial, count(*) AS n, sum(amount) AS amount "
        "FROM scheme.refunds WHERE serial >= $1 AND serial < $2 GROUP BY serial",
        low,
        high,
    )
    found = {r["serial"]: (r["n"], minor_units(r["amount"])) for r in rows}
    missing = [s for s in expect.refunds if s not in found]
    doubled = [s for s, (n, _) in found.items() if n > 1]
    unexpected = [s for s in found if s not in expect.refunds]
    wrong = [
        s for s, amount in expect.refunds.items() if s in found and found[s][0] == 1 and found[s][1] != amount
    ]
    problems += [f"refund missing for {s}" for s in missing] + [f"refund doubled for {s}" for s in doubled]
    problems += [f"refund not called for: {s}" for s in unexpected] + [
        f"refund amount wrong: {s}" for s in wrong
    ]
    return Tally(len(expect.refunds), len(missing), len(doubled), len(wrong), len(unexpected))


async def _entries(pool, expect: Expectations, low: str, high: str, problems: list) -> Tally:
    rows = await fetch(
        pool,
        "SELECT caused_by::text AS caused_by, subject, count(*) AS n "
        "FROM ledger.entries WHERE subject >= $1 AND subject < $2 "
        "GROUP BY caused_by, subject",
        low,
        high,
    )
    found = {(r["caused_by"], r["subject"]): r["n"] for r in rows}
    wanted = Counter((e.caused_by, e.subject) for e in expect.entries)
    assert all(n == 1 for n in wanted.values()), "the model calls for each entry once"
    missing = [k for k in wanted if k not in found]
    doubled = [k for k, n in found.items() if n > 1]
    unexpected = [k for k in found if k not in wanted]
    problems += [f"entry missing: caused by {c} for {s}" for c, s in missing]
    problems += [f"entry doubled: caused by {c} for {s}" for c, s in doubled]
    problems += [f"entry not called for: caused by {c} for {s}" for c, s in unexpected]
    return Tally(len(wanted), len(missing), sum(found[k] - 1 for k in doubled), 0, len(unexpected))


async def _balances(pool, expect: Expectations, problems: list) -> Tally:
    accounts = sorted(expect.accounts)
    rows = await fetch(
        pool,
        "SELECT account, sum(debit) AS debit, sum(credit) AS credit "
        "FROM ledger.account_movements WHERE account = ANY($1::text[]) "
        "GROUP BY account",
        accounts,
    )
    found = {r["account"]: (minor_units(r["debit"]), minor_units(r["credit"])) for r in rows}
    model = balances(expect.entries, set(accounts))
    wrong = [a for a in accounts if found.get(a, (0, 0)) != model[a]]
    problems += [
        f"balance of {a}: {found.get(a, (0, 0))} (debit, credit), expected {model[a]}" for a in wrong
    ]
    return Tally(len(accounts), wrong=len(wrong))
