"""Readable rich tables of the finance reports (`takeback report ...` without `--json` or `--csv`).

Amounts are money in their currency (`12,500.00 EUR`, `1,250 JPY`), targets read as
`63 % by end 2027`, every cell is text (never a dict), and no cell is cut: a wide
one wraps (`services.cli.app.table`).
"""

from __future__ import annotations

from rich.markup import escape

from contracts.accounts import LIABILITY
from services.cli.app import table
from services.common.money import money_text

OFFENDERS_SHOWN_MAX = 5  # per list, in the readable table; --json has them all (up to the check's bound)
AMOUNTS = (
    "debit",
    "credit",
    "balance",
    "opening",
    "charges",
    "payments",
    "closing",
    "in suspense",
    "deposits",
    "fund",
    "expected cost",
    "shortfall",
    "handling fees due",
    "recycling cost",
    "sold",
    "collected",
    "batteries",
    "rate",
    "recovered",
    "content",
    "left out",
    "expected",
    "actual",
)


def money(amount: int | None, currency: str) -> str:
    return "-" if amount is None else money_text(amount, currency)


def amounts(per_currency: dict) -> str:
    """`{"EUR": 1250, "JPY": 3}` -> `12.50 EUR, 3 JPY`."""
    return ", ".join(money_text(amount, currency) for currency, amount in sorted(per_currency.items())) or "-"


def target(target: dict | None) -> str:
    return f"{target['percent']} % by end {target['by_end_of']}" if target else "-"


def percent(rate: str | None) -> str:
    return "-" if rate is None else f"{rate} %"


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _verdict(ok) -> str:
    return "-" if ok is None else ("[green]yes[/]" if ok else "[red]no[/]")


def _is_amounts(value) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(
            isinstance(k, str) and len(k) == 3 and k.isupper() and isinstance(v, int)
            for k, v in value.items()
        )
    )


def _figure(value) -> str:
    """A check's expected or actual: money per currency, a count, or its text."""
    if _is_amounts(value):
        return amounts(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return count(value)
    if isinstance(value, dict) and not value:
        return "-"
    return value if isinstance(value, str) else _text(value)


def _text(value) -> str:
    """Any value of a report's details as text for people: `key: value` pairs, a nested mapping in
    parentheses, lists joined; never JSON or a Python repr."""
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_nested(item)}" for key, item in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_nested(item) for item in value) or "-"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _nested(value) -> str:
    return f"({_text(value)})" if isinstance(value, (dict, list)) and value else _text(value)


def _summary(details: dict) -> str:
    """Counts of offender lists, amounts and scalars: one line; the offenders are listed below the table."""
    parts = []
    for key, value in details.items():
        if isinstance(value, dict) and "count" in value and "items" in value:
            parts.append(f"{key}: {value['count']:,}")
        elif _is_amounts(value):
            parts.append(f"{key}: {amounts(value)}")
        elif isinstance(value, (int, str)) and not isinstance(value, bool):
            parts.append(f"{key}: {count(value) if isinstance(value, int) else value}")
    return "; ".join(parts)


def _offenders(check: dict) -> list[str]:
    return [
        f"[red]{check['name']}[/] {key}: {escape(_text(item))}"
        for key, value in check["details"].items()
        if isinstance(value, dict) and "items" in value
        for item in value["items"][:OFFENDERS_SHOWN_MAX]
    ]


def reconciliation(body: dict) -> list:
    rows = [
        [
            ("[green]ok[/]" if c["ok"] else "[red]FAIL[/]"),
            c["name"],
            _figure(c["expected"]),
            _figure(c["actual"]),
            _summary(c["details"]),
        ]
        for c in body["checks"]
    ]
    colour = "green" if body["status"] == "balanced" else "red"
    kinds = ", ".join(f"{k}: {n:,}" for k, n in body.get("open_discrepancies_by_kind", {}).items()) or "none"
    offenders = [line for check in body["checks"] if not check["ok"] for line in _offenders(check)]
    return [
        table(
            f"Reconciliation as of {body['as_of']}: [{colour}]{body['status']}[/]",
            ["", "check", "expected", "actual", "details"],
            rows,
            right=AMOUNTS,
        ),
        *offenders,
        f"Open discrepancies: {kinds}",
        *_scope(body.get("scope")),
    ]


def _scope(scope: dict | None) -> list[str]:
    """What the run read: the whole books, or what changed since the last stored run (and why not)."""
    if scope is None:
        return []
    if scope["mode"] == "incremental":
        return [
            f"Incremental run: what changed since the run of {scope['since']}, added to its totals; "
            f"last full run {scope['last_full_as_of']}."
        ]
    return [f"Full run: {scope['why_full']}."]


def balances(body: dict) -> list:
    rows = [
        [
            b["account"],
            money(b["debit"], b["currency"]),
            money(b["credit"], b["currency"]),
            money(b["debit"] - b["credit"], b["currency"]),
        ]
        for b in body["balances"]
    ]
    return [
        table(
            f"Balances as of {body['as_of']}", ["account", "debit", "credit", "balance"], rows, right=AMOUNTS
        ),
        "balance = debit - credit: positive on assets and what stores owe, negative on what the scheme owes.",
    ]


def settlement(body: dict) -> list:
    rows = [
        [
            f"{s['counterparty']['kind']} {s['counterparty']['id']}",
            *(money(s[f], s["currency"]) for f in ("opening", "charges", "payments", "closing")),
            money(s["in_suspense"], s["currency"]) if s["in_suspense"] else "-",
        ]
        for s in body["statements"]
    ]
    return [
        table(
            f"Settlement from {body['from']} (inclusive) to {body['to']} (exclusive), as of {body['as_of']}",
            ["counterparty", "opening", "charges", "payments", "closing", "in suspense"],
            rows,
            right=AMOUNTS,
        ),
        "Positive: owed to the scheme; negative: owed by the scheme. closing = opening + charges + payments.",
    ]


def discrepancies(body: dict) -> list:
    rows = [
        [
            d["opened_at"],
            d["kind"],
            d["subject"],
            _details(d["details"]),
            "[yellow]open[/]" if d["status"] == "open" else f"{d['resolution']} ({d['resolved_at']})",
            d["note"] or "-",
        ]
        for d in body["discrepancies"]
    ]
    more = [f"More: add --cursor {body['next_cursor']}"] if body["next_cursor"] else []
    return [
        table(
            f"Discrepancies as of {body['as_of']}, newest first",
            ["opened", "kind", "subject", "details", "resolution", "note"],
            rows,
        ),
        *more,
    ]


def _details(details: dict) -> str:
    return "; ".join(f"{key}: {_nested(value)}" for key, value in details.items())


def liability_age(body: dict) -> list:
    rows = [
        [b["currency"], b["age"], count(b["batteries"]), money(b["deposits"], b["currency"])]
        for b in body["buckets"]
    ]
    return [
        table(
            f"Deposit liability by age of sale, as of {body['as_of']}",
            ["currency", "age", "batteries", "deposits"],
            rows,
            right=AMOUNTS,
        ),
        f"Total: {amounts(body['totals'])}; ledger {LIABILITY}: {amounts(body['ledger_liability'])}",
    ]


def fund(body: dict) -> list:
    rows, notes = [], []
    for c in body["currencies"]:
        cur, states = c["currency"], c["by_state"]
        verdict = {
            "adequate": "[green]adequate[/]",
            "short": f"[red]short by {money(c['shortfall'], cur)}[/]",
            "no_estimate": "[yellow]no estimate[/]",
        }.get(c["status"], c["status"])
        rows.append(
            [
                cur,
                money(c["fund_balance"], cur),
                money(c["recycling_cost"], cur),
                money(c["handling_fees_due"], cur),
                money(c["expected_cost"], cur),
                count(c["batteries"]),
                verdict,
            ]
        )
        orphans = f", of which {count(c['orphans'])} orphans" if c["orphans"] else ""
        notes.append(
            f"{cur}: {count(states['in_use'])} in use, {count(states['collected'])} collected, "
            f"{count(states['in_transit'])} in transit, "
            f"{count(states['at_recycler'])} at the recycler{orphans}"
            + (
                f"; {count(c['batteries_without_mass'])} of unknown mass, not in the cost"
                if c["batteries_without_mass"]
                else ""
            )
            + (f"; {c['reason']}" if c["reason"] else "")
            + "."
        )
    orphans = body.get("unattributed_orphans")
    if orphans:
        notes.append(
            f"{count(orphans['batteries'])} orphans ({orphans['mass_kg']} kg) in no currency: "
            f"{orphans['reason']}."
        )
    columns = [
        "currency",
        "fund",
        "recycling cost",
        "handling fees due",
        "expected cost",
        "batteries",
        "verdict",
    ]
    return [table("Recycling fund against what it must still pay", columns, rows, right=AMOUNTS), *notes]


def collection(body: dict) -> list:
    rows = [
        [
            r["year"],
            r["category"],
            count(r["sold"]),
            count(r["collected"]),
            percent(r["collection_rate_percent"]),
            target(r["target"]),
            _verdict(r["meets_target"]),
            target(r["next_target"]),
        ]
        for r in body["rows"]
    ]
    return [
        table(
            "Collection rate (Regulation (EU) 2023/1542)",
            ["year", "category", "sold", "collected", "rate", "target", "met", "next target"],
            rows,
            right=AMOUNTS,
        ),
        f"Method: {body['method']}",
    ]


def recovery(body: dict) -> list:
    rows = [
        [
            m["material"],
            f"{m['recovered_kg']} kg",
            f"{m['content_kg']} kg" if m["content_kg"] else "-",
            percent(m["recovery_rate_percent"]),
            target(m["target"]),
            _verdict(m["meets_target"]),
            target(m["next_target"]),
            f"{m['recovered_kg_left_out']} kg",
        ]
        for m in body["materials"]
    ]
    left_out = body["lots_left_out"]
    return [
        table(
            f"Material recovery{' in ' + str(body['year']) if body['year'] else ''}: {body['lots']:,} lots, "
            f"{body['input_mass_kg']} kg in",
            ["material", "recovered", "content", "rate", "target", "met", "next target", "left out"],
            rows,
            right=AMOUNTS,
        ),
        f"Rates cover {percent(body['coverage_percent'])} of the input mass: {left_out:,} "
        f"lot{'' if left_out == 1 else 's'} left out ({body['input_mass_kg_left_out']} kg in, "
        f"{count(body['batteries_without_composition'])} batteries of unknown composition), their recovered "
        "mass in 'left out'.",
        f"Method: {body['method']}",
    ]


def collection_weight(body: dict) -> list:
    by_country = body["by"] == "country"
    rows = [
        [
            r["year"],
            r["category"],
            *([r["country"] or "-"] if by_country else []),
            f"{r['collected_kg']} kg",
            count(r["collections"]),
            f"{r['average_placed_kg']} kg",
            percent(r["collection_rate_percent"]),
            target(r["target"]),
            _verdict(r["meets_target"]),
            target(r["next_target"]),
        ]
        for r in body["rows"]
    ]
    columns = ["year", "category", *(["country"] if by_country else [])]
    return [
        table(
            "Collection rate by weight (Regulation (EU) 2023/1542, Annex XI)",
            [
                *columns,
                "collected",
                "collections",
                "placed (3-year average)",
                "rate",
                "target",
                "met",
                "next",
            ],
            rows,
            right=AMOUNTS,
        ),
        f"Method: {body['method']}",
    ]


def recycling_efficiency(body: dict) -> list:
    rows = [
        [
            g["group"],
            count(g["lots"]),
            f"{g['input_kg']} kg",
            f"{g['output_kg']} kg",
            percent(g["recycling_efficiency_percent"]),
            target(g["target"]),
            _verdict(g["meets_target"]),
            target(g["next_target"]),
        ]
        for g in body["groups"]
    ]
    left_out = (
        f"Left out: {body['lots_without_output_mass']:,} lots without output mass "
        f"({body['input_kg_without_output_mass']} kg in), "
        f"{body['lots_without_batteries']:,} without batteries"
    )
    return [
        table(
            f"Recycling efficiency{' in ' + str(body['year']) if body['year'] else ''} (Annex XII Part B): "
            f"{body['lots']:,} lots",
            ["group", "lots", "input", "output", "efficiency", "target", "met", "next target"],
            rows,
            right=AMOUNTS,
        ),
        left_out,
        f"Method: {body['method']}",
    ]
