"""The material recovery report (`GET /v1/reports/recovery`, `takeback report recovery`) through the real
stack: a lot's recovered mass is "recorded against the material content of the lot's batteries" (contract,
recovery.confirmed), so the rate's numerator and denominator cover the same batteries. A lot holding a
battery whose composition the scheme does not know (an orphan) is left out of both, and the report says
how much was left out."""

from __future__ import annotations

import asyncio
import json
import random
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from services.ledger.domain.composition import MATERIAL_FRACTIONS
from tests.conftest import envelope, unique
from tests.integration.scheme import EUR, Scheme, item
from tests.integration.test_gateway_support import bearer, gateway, gateway_url, http, new_key  # noqa: F401

D = Decimal
RATE, MASS = D("0.01"), D("0.001")


@pytest.fixture
async def finance_key(new_key):
    return await new_key("finance", unique("finance"))


def at(year: int, month: int) -> str:
    return f"{year}-{month:02d}-10T10:00:00Z"


async def report(http, key: str, year: int) -> dict:
    response = await http.get("/v1/reports/recovery", params={"year": str(year)}, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


async def a_year_of_its_own(http, key: str) -> int:
    """A past year no recovery has been confirmed in yet: the report's figures for it are this test's."""
    for year in random.sample(range(2000, 2023), 23):
        if (await report(http, key, year))["lots"] == 0:
            return year
    pytest.skip("every year from 2000 to 2022 already holds recoveries")


class Recycling(Scheme):
    async def at(self, when: str, event_type: str, kind: str, source: str, data: dict) -> None:
        await self.applied(await self.emit(envelope(event_type, kind, source, data, occurred_at=when)))

    async def lot(self, year: int, serials: list[str], input_kg: D, recovered: dict[str, D]) -> str:
        lot_id = unique("L")
        centre, recycler = self.centre, self.recycler
        await self.at(
            at(year, 3),
            "lot.dispatched",
            "return_centre",
            centre,
            {
                "lot_id": lot_id,
                "centre_id": centre,
                "recycler_id": recycler,
                "serials": serials,
                "gross_mass_kg": float(input_kg),
            },
        )
        await self.at(
            at(year, 4),
            "lot.received",
            "recycler",
            recycler,
            {
                "lot_id": lot_id,
                "recycler_id": recycler,
                "serials_received": serials,
                "gross_mass_kg": float(input_kg),
            },
        )
        await self.at(
            at(year, 5),
            "recovery.confirmed",
            "recycler",
            recycler,
            {
                "lot_id": lot_id,
                "recycler_id": recycler,
                "input_mass_kg": float(input_kg),
                "recovered": [{"material": m, "mass_kg": float(kg)} for m, kg in recovered.items()],
                "cost": 100,
                "currency": EUR,
            },
        )
        return lot_id


def takeback(*args: str) -> str:
    from services.cli import commands  # noqa: F401  (registers the commands)
    from services.cli.app import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


async def test_a_lot_with_a_battery_of_unknown_composition_is_left_out_of_both_sides_of_the_rate(
    producer, pool, http, finance_key
):
    scheme = Recycling(producer, pool)
    year = await a_year_of_its_own(http, finance_key)
    sold = {unique("BAT"): ("li-ion-nmc", D("2.8")), unique("BAT"): ("li-ion-nmc", D("2.8"))}
    lfp = unique("BAT")
    sold[lfp] = ("li-ion-lfp", D("1.2"))
    nmc_mixed, nmc_known = [s for s, (c, _) in sold.items() if c == "li-ion-nmc"]
    orphan = unique("OLD")  # never sold in the scheme: its chemistry, so its content, is unknown
    await scheme.at(
        at(year, 1),
        "sale.recorded",
        "pos",
        scheme.store,
        {
            "sale_id": unique("S"),
            "store_id": scheme.store,
            "currency": EUR,
            "items": [item(s, chemistry=c, mass_kg=float(kg)) for s, (c, kg) in sold.items()],
        },
    )
    for serial in [*sold, orphan]:
        data = {"collection_id": unique("C"), "centre_id": scheme.centre, "serial": serial}
        await scheme.at(
            at(year, 2),
            "collection.logged",
            "return_centre",
            scheme.centre,
            {**data, "condition": "damaged", **({"mass_kg": 3.0} if serial == orphan else {})},
        )
    # A lot mixing a known battery with the orphan: its cobalt and nickel came partly from the orphan.
    mixed_in, mixed_out = D("5.9"), {"cobalt": D("0.3"), "nickel": D("0.6")}
    await scheme.lot(year, [nmc_mixed, orphan], mixed_in, mixed_out)
    # A lot of known batteries only.
    known_in = D("4.0")
    known_out = {"cobalt": D("0.126"), "nickel": D("0.3"), "iron": D("0.1"), "lithium": D("0.05")}
    await scheme.lot(year, [nmc_known, lfp], known_in, known_out)

    # Hand-computed: only the known lot counts; its content is mass x the chemistry's typical fraction.
    content: dict[str, D] = {}
    for serial in (nmc_known, lfp):
        chemistry, kg = sold[serial]
        for material, fraction in MATERIAL_FRACTIONS[chemistry].items():
            content[material] = content.get(material, D(0)) + kg * fraction
    # cobalt 2.8 x 5 %; iron 2.8 x 5 % + 1.2 x 12 %
    assert content["cobalt"] == D("0.14") and content["iron"] == D("0.284")
    body = await report(http, finance_key, year)
    rows = {m["material"]: m for m in body["materials"]}
    assert rows["cobalt"]["recovery_rate_percent"] == "90.00"  # 0.126 of 0.14, not 0.426 of 0.28 (152 %)
    for material in set(known_out) | set(mixed_out):
        row = rows[material]
        counted, left_out = known_out.get(material, D(0)), mixed_out.get(material, D(0))
        assert D(row["recovered_kg"]) == counted.quantize(MASS), material
        assert D(row["recovered_kg_left_out"]) == left_out.quantize(MASS), material
        assert D(row["content_kg"]) == content[material].quantize(MASS), material
        assert D(row["recovery_rate_percent"]) == (counted * 100 / content[material]).quantize(RATE), material
    assert all(D(r["recovery_rate_percent"]) <= 100 for r in rows.values() if r["recovery_rate_percent"])
    assert (body["lots"], body["lots_left_out"]) == (2, 1)
    assert D(body["input_mass_kg"]) == (mixed_in + known_in).quantize(MASS)
    assert D(body["input_mass_kg_left_out"]) == mixed_in.quantize(MASS)
    assert D(body["coverage_percent"]) == (known_in * 100 / (known_in + mixed_in)).quantize(RATE)
    assert (body["batteries_received"], body["batteries_without_composition"]) == (4, 1)

    shown = json.loads(await asyncio.to_thread(takeback, "report", "recovery", "--year", str(year), "--json"))
    assert shown == body
    table = await asyncio.to_thread(takeback, "report", "recovery", "--year", str(year))
    assert "1 lot left out" in table and f"{body['coverage_percent']} %" in table
