"""Readable rich tables of the finance reports (`takeback report ...` without `--json`)."""
from __future__ import annotations

import json

from services.cli.app import table

DETAIL_SHOWN_CHARS_MAX = 160
OFFENDERS_SHOWN_MAX = 5  # per list, in the readable table; --json has them all (up to the check's bound)


def _money(amounts: dict) -> str:
    return ", ".join(f"{amount} {currency}" for currency, amount in amounts.items()) or "-"


def _target(target: dict | None) -> str:
    return f"{target['percent']} % (end {target['by_end_of']})" if target else "-"


def _verdict(ok) -> str:
    return "-" if ok is None else ("[green]yes[/]" if ok else "[red]no[/]")


def _summary(details: dict) -> str:
    """Counts of offender lists, amounts and scalars: one line; the offenders are listed below the table."""
    parts = []
    for key, value in details.items():
        if isinstance(value, dict) and "count" in value and "items" in value:
            parts.append(f"{key}: {value['count']}")
        elif isinstance(value, dict) and value and all(isinstance(v, int) for v in value.values()):
            parts.append(f"{key}: {_money(value)}")
        elif isinstance(value, (int, str)):
            parts.append(f"{key}: {value}")
    return "; ".join(parts)[:DETAIL_SHOWN_CHARS_MAX]


def _offenders(check: dict) -> list[str]:
    return [f"[red]{check['name']}[/] {key}: {json.dumps(item, default=str)[:DETAIL_SHOWN_CHARS_MAX]}"
            for key, value in check["details"].items() if isinstance(value, dict) and "items" in value
            for item in value["items"][:OFFENDERS_SHOWN_MAX]]


def reconciliation(body: dict) -> list:
    rows = [[("[green]ok[/]" if c["ok"] else "[red]FAIL[/]"), c["name"],
             _money(c["expected"]) if isinstance(c["expected"], dict) else c["expected"],
             _money(c["actual"]) if isinstance(c["actual"], dict) else c["actual"],
             _summary(c["details"])] for c in body["checks"]]
    colour = "green" if body["status"] == "balanced" else "red"
    kinds = ", ".join(f"{k}: {n}" for k, n in body.get("open_discrepancies_by_kind", {}).items()) or "none"
    offenders = [line for check in body["checks"] if not check["ok"] for line in _offenders(check)]
    return [table(f"Reconciliation as of {body['as_of']}: [{colour}]{body['status']}[/]",
                  ["", "check", "expected", "actual", "details"], rows),
            *offenders, f"Open discrepancies: {kinds}", *_scope(body.get("scope"))]


def _scope(scope: dict | None) -> list[str]:
    """What the run read: the whole books, or what changed since the last stored run (and why not)."""
    if scope is None:
        return []
    if scope["mode"] == "incremental":
        return [f"Incremental run: what changed since the run of {scope['since']}, added to its totals; "
                f"last full run {scope['last_full_as_of']}."]
    return [f"Full run: {scope['why_full']}."]


def balances(body: dict) -> list:
    rows = [[b["account"], b["currency"], b["debit"], b["credit"], b["debit"] - b["credit"]] for b in body["balances"]]
    return [table(f"Balances as of {body['as_of']} (minor units)", ["account", "currency", "debit", "credit",
                                                                   "debit - credit"], rows)]


def settlement(body: dict) -> list:
    stores = [[s["store_id"], s["currency"], s["owed_by_store"], s["expected_from_sales"], s["in_suspense"],
               s["items_sold"]] for s in body["stores"]]
    centres = [[c["centre_id"], c["currency"], c["owed_to_centre"], c["refunds_paid"], c["refunds"]]
               for c in body["centres"]]
    return [table("Stores: owed to the scheme", ["store", "currency", "owed (ledger)", "from sales", "in suspense",
                                                 "items"], stores),
            table("Return centres: owed by the scheme", ["centre", "currency", "owed (ledger)", "refunds paid",
                                                         "refunds"], centres)]


def liability_age(body: dict) -> list:
    rows = [[b["currency"], b["age"], b["batteries"], b["deposits"]] for b in body["buckets"]]
    return [table(f"Deposit liability by age of sale, as of {body['as_of']}", ["currency", "age", "batteries",
                                                                               "deposits"], rows),
            f"Total: {_money(body['totals'])}; ledger liability:deposits: {_money(body['ledger_liability'])}"]


def fund(body: dict) -> list:
    verdicts = {"adequate": "[green]adequate[/]", "short": "[red]short by {shortfall}[/]", "no_estimate": "no estimate"}
    rows = [[c["currency"], c["fund_balance"], c["expected_cost"], c["batteries"],
             verdicts.get(c["status"], c["status"]).format(shortfall=c["shortfall"])] for c in body["currencies"]]
    return [table("Recycling fund adequacy (minor units)", ["currency", "fund", "expected cost", "batteries in use",
                                                            "verdict"], rows)]


def collection(body: dict) -> list:
    rows = [[r["year"], r["category"], r["sold"], r["collected"], r["collection_rate_percent"] or "-",
             _target(r["target"]), _verdict(r["meets_target"]), _target(r["next_target"])] for r in body["rows"]]
    return [table("Collection rate (Regulation (EU) 2023/1542)", ["year", "category", "sold", "collected", "rate %",
                                                                  "target", "met", "next target"], rows),
            f"Method: {body['method']}"]


def recovery(body: dict) -> list:
    rows = [[m["material"], m["recovered_kg"], m["content_kg"] or "-", m["recovery_rate_percent"] or "-",
             _target(m["target"]), _verdict(m["meets_target"]), _target(m["next_target"])] for m in body["materials"]]
    return [table(f"Material recovery{' in ' + str(body['year']) if body['year'] else ''}: {body['lots']} lots, "
                  f"{body['input_mass_kg']} kg in", ["material", "recovered kg", "content kg", "rate %", "target",
                                                     "met", "next target"], rows),
            f"Method: {body['method']}"]
