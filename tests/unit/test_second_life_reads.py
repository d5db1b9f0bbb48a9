"""Contract 8.3's reads at the edges: every battery state the API documents has a passport status, and the
weight report's CSV."""

from __future__ import annotations

from typing import get_args

from services.common import report_csv
from services.gateway.entrypoints.bodies import BatteryState
from services.ledger.domain.passport import PASSPORT_STATUSES, passport_status


def test_every_battery_state_maps_to_a_passport_status():
    assert {passport_status(state) for state in get_args(BatteryState)} == set(PASSPORT_STATUSES)


def test_the_weight_csv_has_a_country_column_only_when_by_country():
    row = {
        "year": 2026,
        "category": "lmt",
        "country": "DE",
        **{k: "1.000" for k in report_csv.WEIGHT_FIGURES},
        "target": None,
        "next_target": {"percent": 51, "by_end_of": 2028, "legal_basis": "x"},
        "meets_target": None,
    }
    header, rows = report_csv.collection_weight({"by": "country", "rows": [row]})
    assert header[:3] == ["year", "category", "country"] and rows[0][:3] == [2026, "lmt", "DE"]
    header, _ = report_csv.collection_weight({"by": None, "rows": [row]})
    assert "country" not in header
