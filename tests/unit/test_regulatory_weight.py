"""Contract 8.3's pure rules: collection by weight (Annex XI), recycling efficiency per chemistry group (Annex
XII Part B), the passport's status, and the citations of every target."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import get_args

import pytest

from contracts.enums import Chemistry
from services.ledger.domain import regulation
from services.ledger.domain.collection_weight import Collected, Placed, weight_rows
from services.ledger.domain.passport import (
    BatteryRecord,
    CustodyStep,
    Party,
    passport,
    passport_status,
)
from services.ledger.domain.recycling_efficiency import ReceivedBatteries, RecoveredLot, efficiency, shares

D = Decimal


# -- citations ------------------------------------------------------------------------------------------
def all_targets():
    for table in (
        regulation.COLLECTION_TARGETS,
        regulation.RECYCLING_EFFICIENCY_TARGETS,
        regulation.MATERIAL_RECOVERY_TARGETS,
    ):
        for targets in table.values():
            yield from targets


def test_no_target_cites_article_71_3_and_recycling_targets_cite_71_2_with_their_part():
    assert all("71(3)" not in t.legal_basis for t in all_targets())
    for targets in regulation.MATERIAL_RECOVERY_TARGETS.values():
        assert all(t.legal_basis.startswith("Article 71(2), Annex XII Part C point ") for t in targets)
    for targets in regulation.RECYCLING_EFFICIENCY_TARGETS.values():
        assert all(t.legal_basis.startswith("Article 71(2), Annex XII Part B point ") for t in targets)


def test_each_target_cites_its_own_point():
    """No two targets share a citation: each names the point (and letter) that sets it."""
    bases = [t.legal_basis for t in all_targets()]
    assert len(bases) == len(set(bases))
    assert all(t.as_dict()["legal_basis"].startswith("Regulation (EU) 2023/1542, ") for t in all_targets())


def test_the_part_b_targets_are_the_contracts():
    percents = {
        g: [(t.percent, t.by_end_of) for t in ts] for g, ts in regulation.RECYCLING_EFFICIENCY_TARGETS.items()
    }
    assert percents == {
        "lead-acid": [(75, 2025), (80, 2030)],
        "lithium": [(65, 2025), (70, 2030)],
        "nickel-cadmium": [(80, 2025)],
        "other": [(50, 2025)],
    }


@pytest.mark.parametrize(
    ("chemistry", "group"),
    [
        ("lead-acid", "lead-acid"),
        ("li-ion-nmc", "lithium"),
        ("li-ion-lfp", "lithium"),
        ("li-ion-nca", "lithium"),
        ("li-ion-lco", "lithium"),
        ("nicd", "nickel-cadmium"),
        ("nimh", "other"),
        ("other", "other"),
        (None, "other"),
    ],
)
def test_each_chemistry_falls_in_its_group(chemistry, group):
    assert regulation.chemistry_group(chemistry) == group


def test_every_chemistry_of_the_contract_has_a_group():
    assert {regulation.chemistry_group(c) for c in get_args(Chemistry)} == set(regulation.CHEMISTRY_GROUPS)


# -- collection by weight -------------------------------------------------------------------------------
PLACED = {2024: D("300.5"), 2025: D("410.25"), 2026: D("520")}  # lmt, kilograms placed per year
COLLECTED_2026 = D("250.125")


def lmt_inputs(country: str | None = "DE") -> tuple[list[Placed], list[Collected]]:
    placed = [Placed(year, "lmt", country, kg) for year, kg in PLACED.items()]
    placed.append(Placed(2023, "lmt", country, D("999")))  # four years back: outside the average of 2026
    return placed, [Collected(2026, "lmt", country, COLLECTED_2026, collections=90, without_mass=2)]


def test_the_rate_is_collected_over_the_average_placed_in_the_year_and_the_two_before():
    placed, collected = lmt_inputs()
    [row] = weight_rows(placed, collected, year=2026)
    average = (PLACED[2024] + PLACED[2025] + PLACED[2026]) / 3
    assert (row.year, row.category, row.country) == (2026, "lmt", None)
    assert row.placed_kg == [PLACED[2026], PLACED[2025], PLACED[2024]]
    assert row.average_placed_kg == average
    assert row.rate == (COLLECTED_2026 * 100 / average).quantize(D("0.01"))
    # by hand: (300.5 + 410.25 + 520) / 3 = 410.25 kg; 250.125 / 410.25 = 60.97 %
    assert (row.average_placed_kg, row.rate) == (D("410.25"), D("60.97"))
    assert (row.collections, row.collections_without_mass) == (90, 2)
    target, upcoming = row.targets()
    assert target is None and (upcoming.percent, upcoming.by_end_of) == (51, 2028)  # LMT: Article 60(4)


def test_a_year_before_the_first_sale_counts_as_zero_in_the_average():
    [row] = weight_rows(
        [Placed(2026, "portable", None, D("90"))], [Collected(2026, "portable", None, D("45"), 3, 0)], 2026
    )
    assert row.average_placed_kg == D("30")
    assert row.rate == D("150.00")
    assert row.targets()[0].percent == 45 and row.meets_target() is True


def test_a_category_placed_in_the_three_years_has_a_row_with_nothing_collected():
    [row] = weight_rows([Placed(2024, "portable", None, D("12"))], [], 2026)
    assert (row.collected_kg, row.rate, row.placed_kg) == (D(0), D("0.00"), [D(0), D(0), D("12")])


def test_nothing_placed_gives_no_rate():
    [row] = weight_rows([], [Collected(2026, "unknown", None, D("3"), 1, 0)], 2026)
    assert (row.category, row.rate, row.meets_target()) == ("unknown", None, None)


def test_by_country_keeps_each_country_and_the_ones_not_given_apart():
    de_placed, de_collected = lmt_inputs("DE")
    fr_placed = [Placed(2026, "lmt", "FR", D("100"))]
    unknown = [Collected(2026, "lmt", None, D("5"), 1, 0)]
    rows = weight_rows(de_placed + fr_placed, de_collected + unknown, 2026, by_country=True)
    assert [(r.country, r.collected_kg, r.placed_total_kg) for r in rows] == [
        ("DE", COLLECTED_2026, sum(PLACED.values())),
        ("FR", D(0), D("100")),
        (None, D("5"), D(0)),
    ]
    [whole] = weight_rows(de_placed + fr_placed, de_collected + unknown, 2026)
    assert whole.collected_kg == COLLECTED_2026 + D("5")
    assert whole.placed_total_kg == sum(PLACED.values()) + D("100")


def test_every_year_with_data_has_its_rows_when_no_year_is_asked_and_the_category_filters():
    placed, collected = lmt_inputs()
    placed.append(Placed(2026, "portable", "DE", D("7")))
    rows = weight_rows(placed, collected, category="lmt")
    assert [(r.year, r.category) for r in rows] == [(y, "lmt") for y in (2023, 2024, 2025, 2026)]
    assert rows[-1].placed_total_kg == sum(PLACED.values())


# -- recycling efficiency -------------------------------------------------------------------------------
def lot(lot_id: str, input_kg: str, output_kg: str | None, *received: ReceivedBatteries) -> RecoveredLot:
    return RecoveredLot(lot_id, D(input_kg), None if output_kg is None else D(output_kg), received)


def test_a_mixed_lot_is_shared_by_the_sale_mass_of_its_batteries():
    lead, lithium = D("60"), D("20")
    mixed = lot(
        "L-1",
        "100",
        "70",
        ReceivedBatteries("lead-acid", 4, lead, 0),
        ReceivedBatteries("li-ion-nmc", 2, D("15"), 0),
        ReceivedBatteries("li-ion-lfp", 1, lithium - D("15"), 1),
    )
    result = efficiency([mixed])
    share_lead = lead / (lead + lithium)
    assert result.groups["lead-acid"].input_kg == D("100") * share_lead
    assert result.groups["lead-acid"].output_kg == D("70") * share_lead
    assert result.groups["lithium"].input_kg == D("100") * (1 - share_lead)
    assert result.groups["lead-acid"].rate == result.groups["lithium"].rate == D("70.00")
    assert (result.groups["lead-acid"].batteries, result.groups["lithium"].batteries) == (4, 3)
    assert result.batteries_without_mass == 1
    assert result.groups["other"].rate is None and result.groups["other"].lots == 0


def test_a_lot_without_output_mass_is_left_out_not_counted_as_nothing_recovered():
    result = efficiency(
        [
            lot("L-1", "50", "40", ReceivedBatteries("nicd", 1, D("50"), 0)),
            lot("L-2", "80", None, ReceivedBatteries("nicd", 2, D("80"), 0)),
        ]
    )
    row = result.groups["nickel-cadmium"]
    assert (row.input_kg, row.output_kg, row.rate, row.lots) == (D("50"), D("40"), D("80.00"), 1)
    assert (result.lots, result.lots_without_output_mass, result.input_kg_without_output_mass) == (
        2,
        1,
        D("80"),
    )
    assert row.meets_target(2026) is True and row.targets(2026)[0].percent == 80


def test_a_lot_whose_batteries_have_no_known_mass_is_shared_by_their_number():
    assert shares((ReceivedBatteries(None, 3, D(0), 3), ReceivedBatteries("lead-acid", 1, D(0), 1))) == {
        "other": D(3) / D(4),
        "lead-acid": D(1) / D(4),
    }


def test_a_lot_with_no_received_battery_cannot_be_shared_and_is_counted():
    result = efficiency([lot("L-1", "10", "5")])
    assert result.lots_without_batteries == 1
    assert all(row.input_kg == 0 for row in result.groups.values())


def test_the_target_in_force_follows_the_year():
    row = efficiency([lot("L-1", "10", "7.6", ReceivedBatteries("lead-acid", 1, D("10"), 0))]).groups[
        "lead-acid"
    ]
    assert (row.targets(2024)[0], row.targets(2025)[0].percent, row.targets(2030)[0].percent) == (
        None,
        75,
        80,
    )
    assert (row.meets_target(2025), row.meets_target(2030)) == (True, False)


# -- the passport ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("in_use", "original"),
        ("cancelled", "original"),
        ("repurposed", "repurposed"),
        ("collected", "waste"),
        ("in_transit", "waste"),
        ("at_recycler", "waste"),
        ("recycled", "waste"),
        ("lost", "waste"),
    ],
)
def test_each_state_has_its_passport_status(state, status):
    assert passport_status(state) == status


def test_the_passport_shows_the_chain_without_a_gap_and_the_mass_in_three_decimals():
    at = datetime(2026, 3, 1, 10, tzinfo=UTC)
    customer, centre, operator = (
        Party("customer", "c-1"),
        Party("return_centre", "centre-7"),
        Party("second_life", "op-1"),
    )
    lines = (
        CustodyStep(at, uuid.uuid4(), "sale.recorded", Party("pos", "store-1"), customer, "in_use"),
        CustodyStep(at + timedelta(days=1), uuid.uuid4(), "collection.logged", None, centre, "collected"),
        CustodyStep(
            at + timedelta(days=2), uuid.uuid4(), "battery.repurposed", centre, operator, "repurposed"
        ),
    )
    body = passport(BatteryRecord("BAT-1", "repurposed", "ev", "li-ion-nmc", D("310.5"), 78, operator, lines))
    assert (body["status"], body["mass_kg"], body["state_of_health_pct"]) == ("repurposed", "310.500", 78)
    assert [step["from"] for step in body["history"]] == [
        {"kind": "pos", "id": "store-1"},
        {"kind": "customer", "id": "c-1"},
        {"kind": "return_centre", "id": "centre-7"},
    ]
    assert body["history"][0]["at"] == "2026-03-01T10:00:00+00:00"
    assert body["custodian"] == {"kind": "second_life", "id": "op-1"}
