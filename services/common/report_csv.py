"""Every report as CSV (RFC 4180), the same for `Accept: text/csv` over HTTP and `--csv` on the command line.

A report's CSV is the rows of its JSON body, one line each, with a header line;
the body's own scalars (`as_of`, a statement's `from` and `to`) are repeated as
the first columns of every row, so a file stands on its own. Cells:

- money: integer minor units, with the row's `currency` in its own column;
- masses and rates: the body's exact decimal text (kilograms, percent);
- a target: its percent and year in two columns (`target_percent`, `target_by_end_of`);
- true/false for booleans, an empty cell for null;
- what is nested and has no fixed columns (a discrepancy's or a check's
  `details`): compact JSON text in one cell.

Lines end with CRLF; a cell holding a comma, a quote or a line break is quoted,
its quotes doubled (`csv.QUOTE_MINIMAL`, the RFC's rule).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

Table = tuple[list[str], list[list[Any]]]
CONTENT_TYPE = "text/csv; charset=utf-8; header=present"


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return str(value)


def csv_text(report: str, body: dict) -> str:
    header, rows = TABLES[report](body)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    for row in rows:
        assert len(row) == len(header), f"a {report} row has one cell per column"
        writer.writerow([cell(value) for value in row])
    return out.getvalue()


def _target(target: dict | None) -> list[Any]:
    return [target["percent"], target["by_end_of"]] if target else [None, None]


TARGET_COLUMNS = [
    "target_percent",
    "target_by_end_of",
    "meets_target",
    "next_target_percent",
    "next_target_by_end_of",
]


def balances(body: dict) -> Table:
    return (
        ["as_of", "account", "currency", "debit", "credit"],
        [[body["as_of"], b["account"], b["currency"], b["debit"], b["credit"]] for b in body["balances"]],
    )


def _per_currency(value: Any) -> dict[str, Any] | None:
    """A check's expected or actual as amounts per currency, or None when it is not of that shape."""
    if isinstance(value, dict) and all(isinstance(k, str) and len(k) == 3 and k.isupper() for k in value):
        return value
    return None


def reconciliation(body: dict) -> Table:
    """One row per check, or per check and currency when its expected and actual are amounts per currency."""
    header = ["as_of", "status", "run_id", "check", "ok", "currency", "expected", "actual", "details"]
    rows = []
    for check in body["checks"]:
        lead = [body["as_of"], body["status"], body.get("run_id"), check["name"], check["ok"]]
        expected, actual = _per_currency(check["expected"]), _per_currency(check["actual"])
        if expected is None or actual is None or not (expected or actual):
            rows.append([*lead, None, check["expected"], check["actual"], check["details"]])
            continue
        for currency in sorted(set(expected) | set(actual)):
            rows.append([*lead, currency, expected.get(currency), actual.get(currency), check["details"]])
    return header, rows


def collection(body: dict) -> Table:
    return (
        ["year", "category", "sold", "collected", "collection_rate_percent", *TARGET_COLUMNS],
        [
            [
                r["year"],
                r["category"],
                r["sold"],
                r["collected"],
                r["collection_rate_percent"],
                *_target(r["target"]),
                r["meets_target"],
                *_target(r["next_target"]),
            ]
            for r in body["rows"]
        ],
    )


WEIGHT_FIGURES = (
    "collected_kg",
    "collections",
    "collections_without_mass",
    "placed_kg_in_year",
    "placed_kg_year_before",
    "placed_kg_two_years_before",
    "average_placed_kg",
    "collection_rate_percent",
)


def collection_weight(body: dict) -> Table:
    """Collection by weight (contract 8.3): a `country` column when the body is by country."""
    lead = ["year", "category", *(["country"] if body["by"] == "country" else [])]
    return (
        [*lead, *WEIGHT_FIGURES, *TARGET_COLUMNS],
        [
            [
                *(r[k] for k in lead),
                *(r[k] for k in WEIGHT_FIGURES),
                *_target(r["target"]),
                r["meets_target"],
                *_target(r["next_target"]),
            ]
            for r in body["rows"]
        ],
    )


EFFICIENCY_FIGURES = ("group", "lots", "batteries", "input_kg", "output_kg", "recycling_efficiency_percent")


def recycling_efficiency(body: dict) -> Table:
    """One row per chemistry group; each repeats how many lots were left out for want of an output mass."""
    return (
        ["year", "lots_without_output_mass", *EFFICIENCY_FIGURES, *TARGET_COLUMNS],
        [
            [
                body["year"],
                body["lots_without_output_mass"],
                *(g[k] for k in EFFICIENCY_FIGURES),
                *_target(g["target"]),
                g["meets_target"],
                *_target(g["next_target"]),
            ]
            for g in body["groups"]
        ],
    )


def recovery(body: dict) -> Table:
    return (
        [
            "year",
            "material",
            "recovered_kg",
            "content_kg",
            "recovery_rate_percent",
            *TARGET_COLUMNS,
            "recovered_kg_left_out",
        ],
        [
            [
                body["year"],
                m["material"],
                m["recovered_kg"],
                m["content_kg"],
                m["recovery_rate_percent"],
                *_target(m["target"]),
                m["meets_target"],
                *_target(m["next_target"]),
                m["recovered_kg_left_out"],
            ]
            for m in body["materials"]
        ],
    )


SETTLEMENT_FIGURES = ("opening", "charges", "payments", "closing", "in_suspense")


def settlement(body: dict) -> Table:
    return (
        ["from", "to", "as_of", "counterparty_kind", "counterparty_id", "currency", *SETTLEMENT_FIGURES],
        [
            [
                body["from"],
                body["to"],
                body["as_of"],
                s["counterparty"]["kind"],
                s["counterparty"]["id"],
                s["currency"],
                *(s[f] for f in SETTLEMENT_FIGURES),
            ]
            for s in body["statements"]
        ],
    )


DISCREPANCY_COLUMNS = (
    "discrepancy_id",
    "kind",
    "subject",
    "status",
    "opened_at",
    "caused_by",
    "resolution",
    "note",
    "resolved_at",
    "resolved_by",
    "details",
)


def discrepancies(body: dict) -> Table:
    return (
        ["as_of", *DISCREPANCY_COLUMNS],
        [[body["as_of"], *(d[c] for c in DISCREPANCY_COLUMNS)] for d in body["discrepancies"]],
    )


def liability_age(body: dict) -> Table:
    return (
        ["as_of", "currency", "age", "batteries", "deposits"],
        [[body["as_of"], b["currency"], b["age"], b["batteries"], b["deposits"]] for b in body["buckets"]],
    )


FUND_FIGURES = (
    "fund_balance",
    "recycling_cost",
    "handling_fees_due",
    "expected_cost",
    "status",
    "shortfall",
    "surplus",
    "batteries",
)
FUND_STATES = ("in_use", "collected", "in_transit", "at_recycler")


def fund(body: dict) -> Table:
    """One row per currency; the orphans no currency could be given, if any, in a last row of status
    `unattributed_orphans` with an empty currency."""
    header = ["as_of", "currency", *FUND_FIGURES, *FUND_STATES, "orphans", "batteries_without_mass", "reason"]
    rows = [
        [
            body["as_of"],
            c["currency"],
            *(c[f] for f in FUND_FIGURES),
            *(c["by_state"][s] for s in FUND_STATES),
            c["orphans"],
            c["batteries_without_mass"],
            c["reason"],
        ]
        for c in body["currencies"]
    ]
    orphans = body.get("unattributed_orphans")
    if orphans:
        rows.append(
            [
                body["as_of"],
                None,
                None,
                None,
                None,
                None,
                "unattributed_orphans",
                None,
                None,
                orphans["batteries"],
                None,
                None,
                None,
                None,
                orphans["batteries"],
                orphans["batteries_without_mass"],
                orphans["reason"],
            ]
        )
    return header, rows


TABLES: dict[str, Callable[[dict], Table]] = {
    "balances": balances,
    "reconciliation": reconciliation,
    "collection": collection,
    "collection_weight": collection_weight,
    "recovery": recovery,
    "recycling_efficiency": recycling_efficiency,
    "settlement": settlement,
    "discrepancies": discrepancies,
    "liability_age": liability_age,
    "fund": fund,
}
