"""The rules of the finance reads, without a database: settlement periods and signs, the discrepancy cursor,
fund adequacy, money for people, CSV and the choice between JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.queries import InvalidCursor, InvalidPeriod, Period, Position, period_bound
from services.common.money import money_text
from services.common.report_csv import csv_text
from services.gateway.domain.errors import NotAcceptable
from services.gateway.entrypoints.representations import prefers_csv
from services.ledger.domain.composition import RECYCLING_COST_MINOR_PER_KG
from services.ledger.domain.fund import BatteryGroup, adequacy
from services.ledger.domain.settlement import AccountMovements, counterparty_of, statements

UTC = UTC


# -- settlement periods ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T00:00:00Z", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T01:00:00+01:00", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01t00:00:00.5z", datetime(2026, 11, 1, 0, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_a_period_bound_is_a_date_at_midnight_utc_or_an_instant_with_an_offset(text, instant):
    assert period_bound(text) == instant


@pytest.mark.parametrize(
    "text",
    [
        "2026-11",
        "2026-13-01",
        "2026-02-30",
        "20261101",
        "2026-11-01T00:00:00",
        "2026-11-01 00:00:00Z",
        "1969-12-31",
        "3000-01-01",
        " 2026-11-01",
        "2026-11-01T25:00:00Z",
        "1700000000",
        "",
    ],
)
def test_anything_else_breaks_the_period_bound_rule(text):
    with pytest.raises(InvalidPeriod) as refused:
        period_bound(text)
    assert refused.value.rule == "period_bound"


def test_a_period_ends_after_it_starts():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    assert Period(start, start + timedelta(microseconds=1)).end > start
    for end in (start, start - timedelta(days=1)):
        with pytest.raises(InvalidPeriod) as refused:
            Period(start, end)
        assert refused.value.rule == "period_order"


# -- settlement statements ------------------------------------------------------------------------------
def test_counterparty_accounts_and_the_schemes_own():
    assert counterparty_of("clearing:store:s-1") == ("store", "s-1", "clearing")
    assert counterparty_of("suspense:store:s-1") == ("store", "s-1", "suspense")
    assert counterparty_of("clearing:centre:c:1") == ("centre", "c:1", "clearing")
    assert counterparty_of("payable:recycler:r") == ("recycler", "r", "clearing")
    for own in ("bank:scheme", "fund:recycling", "liability:deposits", "reserve:unclaimed_deposits"):
        assert counterparty_of(own) is None


def test_a_statement_adds_a_stores_suspense_to_its_clearing_and_closes_as_the_sum():
    rows = statements(
        [
            AccountMovements("clearing:store:s", "EUR", 1000, 5800 + 5800, -11000),
            AccountMovements("suspense:store:s", "EUR", 0, -5800, 0),
            AccountMovements("clearing:centre:c", "EUR", -5000, -5000, 10000),
            AccountMovements("payable:recycler:r", "EUR", 0, -6100, 0),
            AccountMovements("clearing:store:s", "JPY", 0, 500, 0),
        ]
    )
    by_party = {(r["counterparty"]["kind"], r["counterparty"]["id"], r["currency"]): r for r in rows}
    assert [(r["counterparty"]["kind"], r["currency"]) for r in rows] == [
        ("store", "EUR"),
        ("store", "JPY"),
        ("centre", "EUR"),
        ("recycler", "EUR"),
    ]
    store = by_party[("store", "s", "EUR")]
    assert (store["opening"], store["charges"], store["payments"]) == (1000, 5800 + 5800 - 5800, -11000)
    assert store["closing"] == 1000 + 5800 - 11000 and store["in_suspense"] == -5800
    centre = by_party[("centre", "c", "EUR")]
    assert (centre["closing"], centre["in_suspense"]) == (0, 0)  # paid what it was owed
    assert by_party[("recycler", "r", "EUR")]["closing"] == -6100  # owed by the scheme
    for row in rows:
        assert row["closing"] == row["opening"] + row["charges"] + row["payments"]


# -- the discrepancy list's cursor ----------------------------------------------------------------------
def test_a_cursor_gives_back_its_position_and_nothing_else_is_one():
    position = Position(datetime(2026, 11, 30, 9, 1, 2, 345678, tzinfo=UTC), uuid.uuid4())
    assert Position.of_cursor(position.cursor()) == position
    naive = Position.__new__(Position)
    object.__setattr__(naive, "opened_at", datetime(2026, 1, 1))
    object.__setattr__(naive, "discrepancy_id", uuid.uuid4())
    for cursor in (
        "",
        "x",
        "not base64!",
        position.cursor() + "A",
        position.cursor()[:-2],
        "a" * 201,
        naive.cursor(),
    ):
        with pytest.raises(InvalidCursor):
            Position.of_cursor(cursor)


# -- fund adequacy --------------------------------------------------------------------------------------
def group(state, batteries, mass, currency="EUR", chemistry="li-ion-nmc", sku="EB-500", without_mass=0):
    return BatteryGroup(currency, chemistry, state, sku, batteries, Decimal(mass), without_mass)


def test_the_fund_must_pay_for_every_battery_not_yet_recycled_and_the_handling_fees_still_to_earn():
    rate = RECYCLING_COST_MINOR_PER_KG["EUR"]["li-ion-nmc"]
    groups = [
        group("in_use", 3, "8.4"),
        group("collected", 1, "2.8"),
        group("in_transit", 1, "2.8"),
        group("at_recycler", 1, "2.8"),
        group("collected", 2, "3.0", currency=None, chemistry=None, sku=None),
    ]
    body = adequacy({"EUR": 100_000}, groups, {("EB-500", "EUR"): 150})
    [eur] = body["currencies"]
    recycling = int(Decimal("16.8") * rate) + int(
        Decimal("3.0") * RECYCLING_COST_MINOR_PER_KG["EUR"]["other"]
    )
    assert eur["recycling_cost"] == recycling
    assert eur["handling_fees_due"] == 3 * 150  # only the batteries still in use will earn one
    assert eur["expected_cost"] == recycling + 450
    assert eur["by_state"] == {"in_use": 3, "collected": 3, "in_transit": 1, "at_recycler": 1}
    assert (eur["batteries"], eur["orphans"], body["unattributed_orphans"]) == (8, 2, None)
    assert eur["status"] == ("adequate" if 100_000 >= recycling + 450 else "short")
    assert eur["shortfall"] == max(recycling + 450 - 100_000, 0)


def test_a_currency_without_a_cost_table_says_so_and_orphans_are_not_guessed_into_a_currency():
    assert "JPY" not in RECYCLING_COST_MINOR_PER_KG
    groups = [
        group("in_use", 2, "5.6", currency="JPY"),
        group("in_use", 1, "2.8"),
        group("collected", 4, "1.0", currency=None, chemistry=None, sku=None, without_mass=3),
    ]
    body = adequacy({"EUR": 5, "JPY": 7}, groups, {("EB-500", "JPY"): 10})
    jpy = next(c for c in body["currencies"] if c["currency"] == "JPY")
    assert (jpy["status"], jpy["expected_cost"], jpy["recycling_cost"]) == ("no_estimate", None, None)
    assert "no recycling cost table for JPY" in jpy["reason"] and jpy["handling_fees_due"] == 20
    orphans = body["unattributed_orphans"]
    assert (orphans["batteries"], orphans["batteries_without_mass"], orphans["mass_kg"]) == (4, 3, "1.000")
    assert all(c["orphans"] == 0 for c in body["currencies"])


# -- money, CSV, Accept ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1_250_000, "EUR", "12,500.00 EUR"),
        (-5, "EUR", "-0.05 EUR"),
        (0, "GBP", "0.00 GBP"),
        (1_250, "JPY", "1,250 JPY"),
        (-1_250, "JPY", "-1,250 JPY"),
        (1_250, "KWD", "1.250 KWD"),
        (10**15 + 1, "EUR", "10,000,000,000,000.01 EUR"),
    ],
)
def test_money_is_shown_in_its_currencys_minor_unit(amount, currency, text):
    assert money_text(amount, currency) == text


def test_csv_quotes_what_must_be_quoted_and_parses_back_to_the_body():
    body = {
        "as_of": "2026-12-01T00:00:00+00:00",
        "discrepancies": [
            {
                "discrepancy_id": "d-1",
                "kind": "overpayment",
                "subject": 'store "42", Berlin',
                "status": "resolved",
                "opened_at": "2026-11-30T00:00:00+00:00",
                "caused_by": "e-1",
                "resolution": "accepted",
                "note": "line one\r\nline two",
                "resolved_at": "2026-12-01T00:00:00+00:00",
                "resolved_by": "e-2",
                "details": {"excess": 100, "currency": "EUR"},
            }
        ],
        "next_cursor": None,
    }
    text = csv_text("discrepancies", body)
    assert text.endswith("\r\n") and '"store ""42"", Berlin"' in text
    [row] = list(csv.DictReader(io.StringIO(text, newline="")))
    assert row["subject"] == 'store "42", Berlin' and row["note"] == "line one\r\nline two"
    assert row["details"] == '{"currency":"EUR","excess":100}' and row["as_of"] == body["as_of"]


@pytest.mark.parametrize(
    ("accept", "csv_wanted"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("text/csv", True),
        ("text/*", True),
        ("text/csv;q=0.5, application/json", False),
        ("application/json;q=0.4, text/csv", True),
        ("text/csv, application/json", False),
        ("application/*;q=0, text/csv;q=0.1", True),
        ("TEXT/CSV; charset=utf-8", True),
    ],
)
def test_csv_is_answered_only_when_preferred_to_json(accept, csv_wanted):
    assert prefers_csv(accept) is csv_wanted


@pytest.mark.parametrize("accept", ["text/html", "application/xml, image/png", "*/*;q=0", "text/csv;q=0"])
def test_an_accept_allowing_neither_is_not_acceptable(accept):
    with pytest.raises(NotAcceptable):
        prefers_csv(accept)


# -- readable tables ------------------------------------------------------------------------------------
LONG = "clearing:centre:centre-0948f6e442c2-with-a-name-longer-than-any-terminal-column"
TARGET = {"percent": 63, "by_end_of": 2027, "legal_basis": "Regulation (EU) 2023/1542, Article 59(4)"}
BODIES = {
    "balances": {
        "as_of": "2026-12-01T00:00:00+00:00",
        "balances": [
            {"account": LONG, "currency": "EUR", "debit": 1_250_000, "credit": 7},
            {"account": "clearing:store:s", "currency": "JPY", "debit": 1250, "credit": 0},
        ],
    },
    "settlement": {
        "from": "2026-11-01T00:00:00+00:00",
        "to": "2026-12-01T00:00:00+00:00",
        "as_of": "2026-12-01T00:00:00+00:00",
        "statements": [
            {
                "counterparty": {"kind": "centre", "id": LONG},
                "currency": "EUR",
                "opening": -1_250_000,
                "charges": -5000,
                "payments": 1_255_000,
                "closing": 0,
                "in_suspense": 0,
            }
        ],
    },
    "collection": {
        "method": "m",
        "rows": [
            {
                "year": 2026,
                "category": "portable",
                "sold": 1000,
                "collected": 500,
                "collection_rate_percent": "50.00",
                "target": TARGET,
                "next_target": TARGET,
                "meets_target": False,
            }
        ],
    },
    "reconciliation": {
        "as_of": "2026-12-01T00:00:00+00:00",
        "status": "discrepancies_found",
        "open_discrepancies_by_kind": {"mass_mismatch": 2},
        "scope": {"mode": "full", "why_full": "asked for"},
        "checks": [
            {
                "name": "trial_balance_zero",
                "ok": True,
                "expected": {"EUR": 0},
                "actual": {"EUR": 0},
                "details": {"totals": {"EUR": {"debit": 1_250_000, "credit": 1_250_000}}},
            },
            {
                "name": "liability_equals_deposits_in_use",
                "ok": False,
                "expected": {"EUR": 1_250_000},
                "actual": {"EUR": 1_245_000},
                "details": {
                    "differing": {
                        "count": 1,
                        "items": [{"account": LONG, "currency": "EUR", "debit": 1_250_000, "credit": 5000}],
                    },
                    "batteries": 250,
                    "deposits": {
                        c: 1_250_000 for c in ("CHF", "DKK", "EUR", "GBP", "JPY", "NOK", "PLN", "SEK")
                    },
                },
            },
        ],
    },
    "liability_age": {
        "as_of": "2026-12-01T00:00:00+00:00",
        "buckets": [
            {"currency": "EUR", "age": "0-90 d", "batteries": 1200, "deposits": 1_250_000},
            {"currency": "EUR", "age": "91-365 d", "batteries": 3, "deposits": 7},
        ],
        "totals": {"EUR": 1_250_007},
        "ledger_liability": {"EUR": 1_250_007},
    },
    "fund": {
        "as_of": "2026-12-01T00:00:00+00:00",
        "currencies": [
            {
                "currency": "EUR",
                "fund_balance": 1_250_000,
                "recycling_cost": 1_000_000,
                "handling_fees_due": 255_000,
                "expected_cost": 1_255_000,
                "shortfall": 5000,
                "surplus": 0,
                "status": "short",
                "batteries": 1200,
                "batteries_without_mass": 0,
                "orphans": 2,
                "reason": None,
                "by_state": {"in_use": 1000, "collected": 150, "in_transit": 30, "at_recycler": 20},
            }
        ],
        "unattributed_orphans": None,
    },
    "recovery": {
        "year": 2026,
        "lots": 1200,
        "input_mass_kg": "3500.000",
        "batteries_received": 2500,
        "batteries_without_composition": 40,
        "lots_left_out": 35,
        "input_mass_kg_left_out": "350.000",
        "coverage_percent": "90.00",
        "method": "m",
        "materials": [
            {
                "material": "cobalt",
                "recovered_kg": "12.500",
                "recovered_kg_left_out": "1.250",
                "content_kg": "25.000",
                "recovery_rate_percent": "50.00",
                "target": TARGET,
                "next_target": None,
                "meets_target": False,
            }
        ],
    },
    "collection_weight": {
        "by": None,
        "method": "m",
        "rows": [
            {
                "year": 2026,
                "category": "portable",
                "collected_kg": "1250.000",
                "collections": 1000,
                "average_placed_kg": "2500.000",
                "collection_rate_percent": "50.00",
                "target": TARGET,
                "next_target": None,
                "meets_target": False,
            }
        ],
    },
    "recycling_efficiency": {
        "year": None,
        "lots": 1200,
        "lots_without_output_mass": 1,
        "input_kg_without_output_mass": "2.000",
        "lots_without_batteries": 0,
        "method": "m",
        "groups": [
            {
                "group": "lithium",
                "lots": 1000,
                "input_kg": "2000.000",
                "output_kg": "1000.000",
                "recycling_efficiency_percent": "50.00",
                "target": TARGET,
                "next_target": None,
                "meets_target": False,
            }
        ],
    },
    "discrepancies": {
        "as_of": "2026-12-01T00:00:00+00:00",
        "next_cursor": "abc",
        "discrepancies": [
            {
                "discrepancy_id": str(uuid.uuid4()),
                "kind": "mass_mismatch",
                "subject": LONG,
                "status": "resolved",
                "opened_at": "2026-11-30T00:00:00+00:00",
                "caused_by": str(uuid.uuid4()),
                "resolution": "accepted",
                "note": "scale recalibrated",
                "resolved_at": "2026-12-01T00:00:00+00:00",
                "resolved_by": None,
                "details": {"dispatched_kg": "5.9", "received_kg": "3.1", "nested": {"a": 1}},
            }
        ],
    },
}


def shown(report: str, width: int) -> str:
    from rich.console import Console

    from services.cli import report_tables

    console = Console(width=width, record=True)
    for part in getattr(report_tables, report)(BODIES[report]):
        console.print(part)
    return console.export_text()


@pytest.mark.parametrize("report", BODIES)
def test_a_report_table_wraps_in_a_narrow_terminal_and_cuts_nothing(report):
    lines = shown(report, 72).splitlines()
    assert all(len(line) <= 72 for line in lines)
    assert all(line.rstrip()[-1] in "┓┃┩│┘" for line in lines if line.startswith(("┏", "┃", "┡", "│", "└")))
    assert "…" not in "".join(lines)
    rows = [line[1:].split("│") for line in lines if line.startswith("│")]
    columns = ["".join(row[i].strip() for row in rows if len(row) > i) for i in range(max(map(len, rows)))]
    if LONG in json.dumps(BODIES[report]):  # whole, read down its column or in the lines below the table
        below = re.sub(
            r"\s", "", "".join(line for line in lines if not line.startswith(("┏", "┃", "┡", "│", "└")))
        )
        assert any(LONG in column for column in columns) or LONG in below, "the long name is whole"


@pytest.mark.parametrize("report", BODIES)
def test_a_report_table_shows_money_in_its_currency_and_targets_as_text(report):
    text = shown(report, 200)
    cells = [line for line in text.splitlines() if line.startswith("│")]
    assert not [line for line in cells if "{'" in line or '{"' in line or "None" in line], report
    expected = {
        "balances": ["12,500.00 EUR", "1,250 JPY", "0.07 EUR"],
        "settlement": ["-12,500.00 EUR", "12,550.00 EUR"],
        "collection": ["63 % by end 2027", "50.00 %", "1,000"],
        "discrepancies": ["dispatched_kg: 5.9", "accepted"],
        "reconciliation": [
            "12,500.00 EUR",
            "12,450.00 EUR",
            "batteries: 250",
            "mass_mismatch: 2",
            "12,500.00 SEK",  # the last of eight amounts in a check's details: nothing cut
            f"account: {LONG}, currency: EUR, debit: 1250000, credit: 5000",  # an offender, whole, no JSON
        ],
        "liability_age": ["12,500.00 EUR", "0.07 EUR", "1,200", "12,500.07 EUR"],
        "fund": ["12,500.00 EUR", "2,550.00 EUR", "12,550.00 EUR", "short by 50.00 EUR", "2 orphans"],
        "recovery": [
            "12.500 kg",
            "25.000 kg",
            "50.00 %",
            "63 % by end 2027",
            "1.250 kg",
            "Rates cover 90.00 % of the input mass: 35 lots left out (350.000 kg in, 40 batteries",
        ],
        "collection_weight": ["1250.000 kg", "2500.000 kg", "50.00 %", "63 % by end 2027"],
        "recycling_efficiency": ["2000.000 kg", "1000.000 kg", "50.00 %", "63 % by end 2027"],
    }[report]
    for piece in expected:
        assert piece in text, piece


def test_every_report_of_the_command_line_has_a_table_and_csv():
    """Each `takeback report` command and `takeback discrepancies` offer --csv and --json, and each report's
    table is among those the tests above render (a new report without them fails here)."""
    from typer.main import get_command

    from services.cli import commands  # noqa: F401  (registers the commands)
    from services.cli.app import app

    cli = get_command(app)
    reports = cli.commands["report"].commands  # type: ignore[attr-defined]
    for name, command in [*reports.items(), ("discrepancies", cli.commands["discrepancies"])]:
        options = {option for parameter in command.params for option in parameter.opts}
        assert {"--csv", "--json"} <= options, name
    rendered = {name.replace("-", "_") for name in reports} | {"discrepancies", "collection_weight"}
    assert rendered <= set(BODIES) | {"liability_age"}, rendered - set(BODIES)
