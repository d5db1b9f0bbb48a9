"""Contract 8.3's reads through the real stack: the battery passport in every status, collection by weight
(Annex XI's three-year average, by country), recycling efficiency per chemistry group (Annex XII Part B),
their errors, CSV, and the same from the command line (`takeback passport export`, `takeback report`)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import string
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from contracts import topics
from services.ledger.domain.regulation import COLLECTION_TARGETS, target_in_force
from tests.conftest import envelope, send, unique, wait_for
from tests.integration.scheme import EUR, Scheme, item
from tests.integration.test_gateway_support import bearer, gateway, gateway_url, http, new_key  # noqa: F401

D = Decimal
CSV_HEADERS = {"Accept": "text/csv"}
RATE_QUANTUM = D("0.01")
MASS_QUANTUM = D("0.001")


@pytest.fixture
async def finance_key(new_key):
    return await new_key("finance", unique("finance"))


def at(year: int, month: int, day: int = 10) -> str:
    return f"{year}-{month:02d}-{day:02d}T10:00:00Z"


def a_country() -> str:
    """A code of two letters no other test uses (with high probability): its rows are this test's alone."""
    return "".join(random.choice(string.ascii_uppercase) for _ in range(2))


def a_past_year() -> int:
    return random.randint(2001, 2022)


class Regulated(Scheme):
    """The scheme driver with contract 8.3's fields: country, state of health, output mass, second life."""

    async def sold(self, items: list[dict], when: str, country: str | None = None) -> dict:
        data = {"sale_id": unique("S"), "store_id": self.store, "currency": EUR, "items": items}
        if country is not None:
            data["country"] = country
        event = await self.emit(envelope("sale.recorded", "pos", self.store, data, occurred_at=when))
        await self.applied(event)
        return event

    async def collected(
        self,
        serial: str,
        when: str | None,
        mass_kg: float | None = None,
        health: int | None = None,
        country: str | None = None,
        condition: str = "functional",
    ) -> dict:
        data = {
            "collection_id": unique("C"),
            "centre_id": self.centre,
            "serial": serial,
            "condition": condition,
        }
        for name, value in (("mass_kg", mass_kg), ("state_of_health_pct", health), ("country", country)):
            if value is not None:
                data[name] = value
        event = await self.emit(
            envelope("collection.logged", "return_centre", self.centre, data, occurred_at=when)
        )
        await self.applied(event)
        return event

    async def recycled(
        self,
        serials: list[str],
        when_year: int,
        input_kg: str,
        output_kg: str | None,
        received: list[str] | None = None,
    ) -> str:
        lot_id = unique("L")
        for event in (
            envelope(
                "lot.dispatched",
                "return_centre",
                self.centre,
                {
                    "lot_id": lot_id,
                    "centre_id": self.centre,
                    "recycler_id": self.recycler,
                    "serials": serials,
                    "gross_mass_kg": float(input_kg),
                },
                occurred_at=at(when_year, 3),
            ),
            envelope(
                "lot.received",
                "recycler",
                self.recycler,
                {
                    "lot_id": lot_id,
                    "recycler_id": self.recycler,
                    "serials_received": serials if received is None else received,
                    "gross_mass_kg": float(input_kg),
                },
                occurred_at=at(when_year, 4),
            ),
        ):
            await self.applied(await self.emit(event))
        data = {
            "lot_id": lot_id,
            "recycler_id": self.recycler,
            "input_mass_kg": float(input_kg),
            "recovered": [{"material": "other", "mass_kg": 0.1}],
            "cost": 100,
            "currency": EUR,
        }
        if output_kg is not None:
            data["output_mass_kg"] = float(output_kg)
        await self.applied(
            await self.emit(
                envelope("recovery.confirmed", "recycler", self.recycler, data, occurred_at=at(when_year, 5))
            )
        )
        return lot_id

    async def repurposed(self, serial: str, operator: str) -> None:
        transfer = {
            "serial": serial,
            "from": {"kind": "return_centre", "id": self.centre},
            "to": {"kind": "second_life", "id": operator},
            "reason": "second_life",
        }
        await self.applied(
            await self.emit(envelope("custody.transferred", "return_centre", self.centre, transfer))
        )
        data = {"serial": serial, "operator_id": operator, "application": "stationary_storage"}
        await self.applied(await self.emit(envelope("battery.repurposed", "second_life", operator, data)))

    async def resolved(self, discrepancy_id, resolution: str) -> None:
        data = {"discrepancy_id": str(discrepancy_id), "resolution": resolution, "note": None}
        event = envelope("discrepancy.resolved", "finance", "finance-1", data)
        await send(self.producer, topics.FINANCE, str(discrepancy_id), event)
        await self.applied(event)


# -- the passport ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
async def batteries(producer, pool):
    """A battery in each state the passport maps, sold in the past with a mass, a chemistry and a category."""
    scheme = Regulated(producer, pool)
    serial = {
        name: unique(f"BAT-{name}")
        for name in (
            "in_use",
            "cancelled",
            "collected",
            "in_transit",
            "at_recycler",
            "recycled",
            "lost",
            "orphan",
        )
    }
    year = 2024
    await scheme.sold(
        [item(serial["in_use"], category="ev", chemistry="li-ion-nmc", mass_kg=310.5)], at(year, 1)
    )
    cancelled = await scheme.sold([item(serial["cancelled"])], at(year, 1))
    await scheme.applied(await scheme.cancel(cancelled["data"]["sale_id"], [serial["cancelled"]]))
    for name in ("collected", "in_transit", "at_recycler", "recycled", "lost"):
        await scheme.sold(
            [item(serial[name], category="industrial", chemistry="li-ion-lfp", mass_kg=40.25)], at(year, 1)
        )
        await scheme.collected(serial[name], at(year, 2), health=72)
    await scheme.applied(await scheme.dispatch([serial["in_transit"]], mass=40.25))
    lot = await scheme.dispatch([serial["at_recycler"], serial["lost"]], mass=80.5)
    await scheme.applied(lot)
    await scheme.applied(await scheme.receive(lot["data"]["lot_id"], [serial["at_recycler"]], mass=40.25))
    await scheme.recycled([serial["recycled"]], year, "40.25", "30")
    gone = await wait_for(
        lambda: pool.fetchval(
            "SELECT discrepancy_id FROM scheme.discrepancies "
            "WHERE subject = $1 AND kind = 'missing_in_transit'",
            serial["lost"],
        )
    )
    await scheme.resolved(gone, "written_off")
    await scheme.collected(serial["orphan"], at(year, 3), mass_kg=1.75, health=55)
    return scheme, serial


async def passport_of(http, key: str, serial: str) -> dict:
    response = await http.get(f"/v1/batteries/{serial}/passport", headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("name", "state", "status"),
    [
        ("in_use", "in_use", "original"),
        ("cancelled", "cancelled", "original"),
        ("collected", "collected", "waste"),
        ("in_transit", "in_transit", "waste"),
        ("at_recycler", "at_recycler", "waste"),
        ("recycled", "recycled", "waste"),
        ("lost", "lost", "waste"),
        ("orphan", "collected", "waste"),
    ],
)
async def test_each_state_reads_as_its_passport_status(http, finance_key, batteries, name, state, status):
    _, serial = batteries
    body = await passport_of(http, finance_key, serial[name])
    assert (body["serial"], body["state"], body["status"]) == (serial[name], state, status)


async def test_the_passport_carries_what_the_scheme_knows_and_the_chain_of_the_battery_body(
    http, new_key, batteries
):
    scheme, serial = batteries
    key = await new_key("pos", scheme.store)  # any valid key reads a battery, and so its passport
    sold = await passport_of(http, key, serial["in_use"])
    assert {k: sold[k] for k in ("category", "chemistry", "mass_kg", "state_of_health_pct")} == {
        "category": "ev",
        "chemistry": "li-ion-nmc",
        "mass_kg": "310.500",
        "state_of_health_pct": None,
    }
    collected = await passport_of(http, key, serial["collected"])
    battery = (await http.get(f"/v1/batteries/{serial['collected']}", headers=bearer(key))).json()
    assert (collected["history"], collected["custodian"]) == (battery["history"], battery["custodian"])
    assert (collected["state_of_health_pct"], collected["mass_kg"], collected["chemistry"]) == (
        72,
        "40.250",
        "li-ion-lfp",
    )
    orphan = await passport_of(http, key, serial["orphan"])
    assert {k: orphan[k] for k in ("category", "chemistry", "mass_kg", "state_of_health_pct")} == {
        "category": None,
        "chemistry": None,
        "mass_kg": "1.750",
        "state_of_health_pct": 55,
    }


@pytest.fixture(scope="module")
async def second_life(producer, pool):
    """Two batteries graded at collection and repurposed by an operator; one collected again, without a state
    of health this time."""
    scheme, operator = Regulated(producer, pool), unique("op")
    repurposed, again = unique("BAT-repurposed"), unique("BAT-again")
    for serial, health in ((repurposed, 70), (again, 81)):
        await scheme.sold([item(serial, category="ev", chemistry="li-ion-nmc", mass_kg=305.0)], at(2024, 1))
        await scheme.collected(serial, at(2024, 2), health=health)
        await scheme.repurposed(serial, operator)
    await scheme.collected(again, None)  # now, after its repurposing
    return scheme, operator, repurposed, again


async def test_a_repurposed_battery_reads_repurposed_in_its_operators_custody(http, finance_key, second_life):
    _, operator, repurposed, _ = second_life
    body = await passport_of(http, finance_key, repurposed)
    assert (body["state"], body["status"], body["state_of_health_pct"]) == ("repurposed", "repurposed", 70)
    assert body["custodian"] == {"kind": "second_life", "id": operator}
    assert body["history"][-1]["event_type"] == "battery.repurposed"


async def test_a_repurposed_battery_collected_again_is_waste_with_its_last_known_state_of_health(
    http, finance_key, second_life
):
    scheme, _, _, again = second_life
    body = await passport_of(http, finance_key, again)
    battery = (await http.get(f"/v1/batteries/{again}", headers=bearer(finance_key))).json()
    assert (body["state"], body["status"]) == ("collected", "waste")
    assert body["state_of_health_pct"] == 81  # the last collection gave none: the last known stays
    assert (body["history"], body["custodian"]) == (battery["history"], battery["custodian"])
    assert [step["event_type"] for step in body["history"]] == [
        "sale.recorded",
        "collection.logged",
        "custody.transferred",
        "battery.repurposed",
        "collection.logged",
    ]
    assert body["custodian"] == {"kind": "return_centre", "id": scheme.centre}


async def test_an_unknown_serial_has_no_passport_and_a_bad_one_is_400(http, finance_key):
    response = await http.get(f"/v1/batteries/{unique('BAT')}/passport", headers=bearer(finance_key))
    assert (response.status_code, response.json()["error"]) == (404, "unknown_battery")
    response = await http.get("/v1/batteries/BAT%20one/passport", headers=bearer(finance_key))
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    assert (await http.get(f"/v1/batteries/{unique('BAT')}/passport")).status_code == 401


def takeback(*args: str) -> str:
    from services.cli import commands  # noqa: F401  (registers the commands)
    from services.cli.app import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


async def cli(*args: str) -> str:
    """`takeback ...` from an async test: the command runs its own event loop, so in a thread of its own."""
    return await asyncio.to_thread(takeback, *args)


async def test_the_export_writes_one_passport_per_line_in_serial_order_as_http_serves_it(
    http, finance_key, batteries
):
    _, serial = batteries
    lines = (await cli("passport", "export", "--category", "industrial")).splitlines()
    passports = [json.loads(line) for line in lines]
    assert all(p["category"] == "industrial" for p in passports)
    serials = [p["serial"] for p in passports]
    assert serials == sorted(serials) and len(set(serials)) == len(serials)
    ours = {p["serial"]: p for p in passports if p["serial"] in serial.values()}
    industrial = {"collected", "in_transit", "at_recycler", "recycled", "lost"}
    assert set(ours) == {serial[name] for name in industrial}
    for passport in ours.values():
        assert passport == await passport_of(http, finance_key, passport["serial"])
    everything = [json.loads(line)["serial"] for line in (await cli("passport", "export")).splitlines()]
    assert set(serial.values()) <= set(everything) and everything == sorted(everything)


async def test_the_command_line_shows_one_passport_as_http_serves_it(http, finance_key, batteries):
    _, serial = batteries
    shown = json.loads(await cli("passport", "show", serial["collected"], "--json"))
    assert shown == await passport_of(http, finance_key, serial["collected"])
    assert "status waste" in await cli("passport", "show", serial["collected"])

    def unknown():
        from services.cli import commands  # noqa: F401
        from services.cli.app import app

        return CliRunner().invoke(app, ["passport", "show", unique("BAT")])

    result = await asyncio.to_thread(unknown)
    assert result.exit_code == 1 and "not known to the scheme" in result.output


def test_the_export_refuses_a_category_the_contract_does_not_have():
    from services.cli import commands  # noqa: F401
    from services.cli.app import app

    result = CliRunner().invoke(app, ["passport", "export", "--category", "lithium"])
    assert result.exit_code == 2 and "--category" in result.output


# -- collection by weight -------------------------------------------------------------------------------
async def weight_rows(http, key: str, year: int, **query) -> list[dict]:
    response = await http.get(
        "/v1/reports/collection", params={"year": str(year), "basis": "weight", **query}, headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["basis"], body["year"]) == ("weight", year)
    return body["rows"]


async def test_collection_by_weight_is_collected_over_the_three_year_average_placed_by_country(
    producer, pool, http, finance_key
):
    """A hand-computed example: portable batteries of one country sold over four years, some collected."""
    scheme, country, year = Regulated(producer, pool), a_country(), a_past_year()
    assert [
        r for r in await weight_rows(http, finance_key, year, by="country") if r["country"] == country
    ] == []
    sold = {  # year -> masses sold in it (kg)
        year - 3: ["9.5"],  # before the three years: not in the average
        year - 2: ["1.5", "1.5"],
        year - 1: ["2.25"],
        year: ["0.5", "0.5", "0.5"],
    }
    serials: dict[int, list[str]] = {}
    for sale_year, masses in sold.items():
        serials[sale_year] = [unique("BAT") for _ in masses]
        items = [
            item(s, category="portable", chemistry="nimh", mass_kg=float(m))
            for s, m in zip(serials[sale_year], masses)
        ]
        await scheme.sold(items, at(sale_year, 1), country=country)
    measured = "1.6"
    await scheme.collected(serials[year - 2][0], at(year, 6), mass_kg=float(measured), country=country)
    await scheme.collected(serials[year - 2][1], at(year, 7), country=country)  # no mass: the sale's counts
    await scheme.collected(serials[year - 3][0], at(year - 1, 7), country=country)  # the year before: not in
    orphan = unique("BAT")
    await scheme.collected(orphan, at(year, 8), country=country)  # no mass anywhere

    rows = {
        r["category"]: r
        for r in await weight_rows(http, finance_key, year, by="country")
        if r["country"] == country
    }
    placed = {y: sum((D(m) for m in sold[y]), D(0)) for y in (year, year - 1, year - 2)}
    collected = D(measured) + D(sold[year - 2][1])
    average = (placed[year] + placed[year - 1] + placed[year - 2]) / 3
    rate = (collected / average * 100).quantize(RATE_QUANTUM)
    target = target_in_force(COLLECTION_TARGETS["portable"], year)
    portable = rows["portable"]
    assert {k: portable[k] for k in portable if k not in ("target", "next_target")} == {
        "year": year,
        "category": "portable",
        "country": country,
        "collected_kg": str(collected.quantize(MASS_QUANTUM)),
        "collections": 2,
        "collections_without_mass": 0,
        "placed_kg_in_year": str(placed[year].quantize(MASS_QUANTUM)),
        "placed_kg_year_before": str(placed[year - 1].quantize(MASS_QUANTUM)),
        "placed_kg_two_years_before": str(placed[year - 2].quantize(MASS_QUANTUM)),
        "average_placed_kg": str(average.quantize(MASS_QUANTUM)),
        "collection_rate_percent": str(rate),
        "meets_target": None if target is None else rate >= target.percent,
    }
    assert portable["target"] == (None if target is None else target.as_dict())
    # by hand: placed (0.5 x 3) + 2.25 + (1.5 x 2) = 6.75 kg over three years, 2.25 kg on average;
    # collected 1.6 (weighed) + 1.5 (the sale's mass) = 3.1 kg; 3.1 / 2.25 = 137.78 %
    assert (portable["average_placed_kg"], portable["collected_kg"], portable["collection_rate_percent"]) == (
        "2.250",
        "3.100",
        "137.78",
    )
    assert {k: rows["unknown"][k] for k in ("collected_kg", "collections", "collections_without_mass")} == {
        "collected_kg": "0.000",
        "collections": 1,
        "collections_without_mass": 1,
    }
    before = [
        r for r in await weight_rows(http, finance_key, year - 1, by="country") if r["country"] == country
    ]
    [previous] = [r for r in before if r["category"] == "portable"]
    assert previous["collected_kg"] == str(D(sold[year - 3][0]).quantize(MASS_QUANTUM))


async def test_the_rows_of_every_country_add_up_to_the_row_without_countries(
    producer, pool, http, finance_key
):
    scheme, year = Regulated(producer, pool), a_past_year()
    for country in (a_country(), None):
        serial = unique("BAT")
        await scheme.sold([item(serial, category="lmt", mass_kg=3.25)], at(year, 1), country=country)
        await scheme.collected(serial, at(year, 2), country=country)
    by_country = await weight_rows(http, finance_key, year, by="country", category="lmt")
    [whole] = await weight_rows(http, finance_key, year, category="lmt")
    assert "country" not in whole and None in {r["country"] for r in by_country}
    for figure in (
        "collected_kg",
        "placed_kg_in_year",
        "placed_kg_year_before",
        "placed_kg_two_years_before",
    ):
        assert sum(D(r[figure]) for r in by_country) == D(whole[figure]), figure
    assert sum(r["collections"] for r in by_country) == whole["collections"]


async def test_the_count_basis_is_unchanged_without_basis(http, finance_key):
    plain = await http.get("/v1/reports/collection", params={"year": "2025"}, headers=bearer(finance_key))
    count = await http.get(
        "/v1/reports/collection", params={"year": "2025", "basis": "count"}, headers=bearer(finance_key)
    )
    assert plain.json() == count.json()
    assert "basis" not in plain.json() and all("sold" in r for r in plain.json()["rows"])


# -- recycling efficiency -------------------------------------------------------------------------------
async def efficiency(http, key: str, year: int) -> dict:
    response = await http.get(
        "/v1/reports/recycling-efficiency", params={"year": str(year)}, headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    return response.json()


def groups(body: dict) -> dict[str, dict]:
    return {g["group"]: g for g in body["groups"]}


async def test_efficiency_per_group_shares_a_mixed_lot_by_sale_mass_and_leaves_out_a_lot_without_output(
    producer, pool, http, finance_key
):
    scheme, year = Regulated(producer, pool), a_past_year()
    before = await efficiency(http, finance_key, year)
    masses = {"lead-acid": "12", "li-ion-nmc": "3", "nicd": "2", "nimh": "1.5"}
    serial = {chemistry: unique("BAT") for chemistry in masses}
    await scheme.sold(
        [item(serial[c], chemistry=c, category="industrial", mass_kg=float(m)) for c, m in masses.items()],
        at(year, 1),
    )
    for s in serial.values():
        await scheme.collected(s, at(year, 2))
    mixed_in, mixed_out = D("15.5"), D("11")
    await scheme.recycled([serial["lead-acid"], serial["li-ion-nmc"]], year, str(mixed_in), str(mixed_out))
    nicd_in, nicd_out = D("2"), D("1.7")
    await scheme.recycled([serial["nicd"]], year, str(nicd_in), str(nicd_out))
    await scheme.recycled([serial["nimh"]], year, "1.5", None)
    after = await efficiency(http, finance_key, year)

    lead_share = D(masses["lead-acid"]) / (D(masses["lead-acid"]) + D(masses["li-ion-nmc"]))
    expected = {  # group -> (input, output) this test added
        "lead-acid": (mixed_in * lead_share, mixed_out * lead_share),
        "lithium": (mixed_in * (1 - lead_share), mixed_out * (1 - lead_share)),
        "nickel-cadmium": (nicd_in, nicd_out),
        "other": (D(0), D(0)),
    }
    # by hand: the mixed lot is 12 / 15 lead-acid by sale mass: 15.5 x 0.8 = 12.4 kg in, 11 x 0.8 = 8.8 out;
    # lithium the rest, 3.1 in, 2.2 out; nickel-cadmium 2 in, 1.7 out (85 %); nimh's lot has no output
    assert {
        group: (i.quantize(MASS_QUANTUM), o.quantize(MASS_QUANTUM)) for group, (i, o) in expected.items()
    } == {
        "lead-acid": (D("12.400"), D("8.800")),
        "lithium": (D("3.100"), D("2.200")),
        "nickel-cadmium": (D("2.000"), D("1.700")),
        "other": (D("0.000"), D("0.000")),
    }
    old, new = groups(before), groups(after)
    for group, (input_kg, output_kg) in expected.items():
        assert D(new[group]["input_kg"]) - D(old[group]["input_kg"]) == input_kg.quantize(MASS_QUANTUM), group
        assert D(new[group]["output_kg"]) - D(old[group]["output_kg"]) == output_kg.quantize(MASS_QUANTUM), (
            group
        )
        rate = new[group]["recycling_efficiency_percent"]
        if D(new[group]["input_kg"]):
            assert D(rate) == (D(new[group]["output_kg"]) / D(new[group]["input_kg"]) * 100).quantize(
                RATE_QUANTUM
            )
            target = new[group]["target"]
            assert new[group]["meets_target"] == (None if target is None else D(rate) >= target["percent"])
    assert (
        after["lots"] - before["lots"],
        after["lots_without_output_mass"] - before["lots_without_output_mass"],
    ) == (
        3,
        1,
    )
    assert D(after["input_kg_without_output_mass"]) - D(before["input_kg_without_output_mass"]) == D("1.5")
    assert [g["group"] for g in after["groups"]] == ["lead-acid", "lithium", "nickel-cadmium", "other"]
    cited = new["lead-acid"]["target"] or new["lead-acid"]["next_target"]  # a past year: the next one
    assert cited["legal_basis"].startswith("Regulation (EU) 2023/1542, Article 71(2), Annex XII Part B")


# -- errors ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "query", "field", "rule"),
    [
        ("/v1/reports/collection", {"basis": "weight", "year": "1999"}, "query.year", "year"),
        ("/v1/reports/collection", {"basis": "weight", "year": "2026.0"}, "query.year", "year"),
        (
            "/v1/reports/collection",
            {"basis": "weight", "category": "lithium"},
            "query.category",
            "literal_error",
        ),
        ("/v1/reports/collection", {"basis": "mass"}, "query.basis", "literal_error"),
        ("/v1/reports/collection", {"basis": "weight", "by": "region"}, "query.by", "literal_error"),
        ("/v1/reports/collection", {"by": "country"}, "query.by", "needs_weight_basis"),
        ("/v1/reports/recycling-efficiency", {"year": "20x6"}, "query.year", "year"),
        (
            "/v1/reports/recycling-efficiency",
            {"year": "2026", "group": "lithium"},
            "query.group",
            "unknown_parameter",
        ),
    ],
)
async def test_a_bad_parameter_is_400_naming_the_field_and_its_rule(
    http, finance_key, path, query, field, rule
):
    response = await http.get(path, params=query, headers=bearer(finance_key))
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["error"], [(e["field"], e["rule"]) for e in body["errors"]]) == (
        "invalid_request",
        [(field, rule)],
    )


@pytest.mark.parametrize(
    "path", ["/v1/reports/collection?basis=weight", "/v1/reports/recycling-efficiency?year=2026"]
)
async def test_only_finance_keys_read_the_reports_for_the_regulator(http, new_key, path):
    response = await http.get(path, headers=bearer(await new_key("pos", unique("store"))))
    assert (response.status_code, response.json()["error"]) == (403, "finance_only")


# -- CSV and the command line ---------------------------------------------------------------------------
def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def targets_of(row: dict) -> dict[str, str]:
    target, upcoming = row["target"] or {}, row["next_target"] or {}
    return {
        "target_percent": cell(target.get("percent")),
        "target_by_end_of": cell(target.get("by_end_of")),
        "meets_target": cell(row["meets_target"]),
        "next_target_percent": cell(upcoming.get("percent")),
        "next_target_by_end_of": cell(upcoming.get("by_end_of")),
    }


async def test_the_weight_basis_and_the_efficiency_answer_csv_with_the_rows_of_their_json(
    producer, pool, http, finance_key
):
    scheme, year, country = Regulated(producer, pool), a_past_year(), a_country()
    serial = unique("BAT")
    await scheme.sold([item(serial, category="portable", mass_kg=0.75)], at(year, 1), country=country)
    await scheme.collected(serial, at(year, 2), country=country)
    query = {"year": str(year), "basis": "weight", "by": "country"}
    body = (await http.get("/v1/reports/collection", params=query, headers=bearer(finance_key))).json()
    response = await http.get(
        "/v1/reports/collection", params=query, headers={**bearer(finance_key), **CSV_HEADERS}
    )
    assert response.headers["content-type"].startswith("text/csv")
    figures = [k for k in body["rows"][0] if k not in ("target", "next_target", "meets_target")]
    assert csv_rows(response.text) == [
        {**{k: cell(r[k]) for k in figures}, **targets_of(r)} for r in body["rows"]
    ]

    path = f"/v1/reports/recycling-efficiency?year={year}"
    body = (await http.get(path, headers=bearer(finance_key))).json()
    rows = csv_rows((await http.get(path, headers={**bearer(finance_key), **CSV_HEADERS})).text)
    assert rows == [
        {
            "year": str(year),
            "lots_without_output_mass": str(body["lots_without_output_mass"]),
            **{
                k: cell(g[k])
                for k in (
                    "group",
                    "lots",
                    "batteries",
                    "input_kg",
                    "output_kg",
                    "recycling_efficiency_percent",
                )
            },
            **targets_of(g),
        }
        for g in body["groups"]
    ]

    printed = json.loads(
        await cli(
            "report", "collection", "--basis", "weight", "--year", str(year), "--by", "country", "--json"
        )
    )
    http_body = (await http.get("/v1/reports/collection", params=query, headers=bearer(finance_key))).json()
    assert printed == http_body
    cli_csv = await cli(
        "report", "collection", "--basis", "weight", "--year", str(year), "--by", "country", "--csv"
    )
    assert csv_rows(cli_csv) == csv_rows(response.text)
    assert country in await cli(
        "report", "collection", "--basis", "weight", "--year", str(year), "--by", "country"
    )
    assert json.loads(await cli("report", "recycling-efficiency", "--year", str(year), "--json")) == body
    assert "Annex XII Part B" in await cli("report", "recycling-efficiency", "--year", str(year))


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["report", "collection", "--by", "country"], "--by"),
        (["report", "collection", "--basis", "mass"], "--basis"),
        (["report", "collection", "--basis", "weight", "--category", "lithium"], "--category"),
        (["report", "collection", "--basis", "weight", "--year", "1999"], "--year"),
        (["report", "recycling-efficiency", "--year", "3000"], "--year"),
    ],
)
def test_the_command_line_refuses_a_bad_option_naming_it(args, named):
    from services.cli import commands  # noqa: F401
    from services.cli.app import app

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and named in result.output
