"""lot.dispatched, lot.received and recovery.confirmed: outcomes, discrepancies and reason codes."""

from __future__ import annotations

import pytest

from tests.conftest import unique
from tests.integration.scheme import Scheme, item, lines_of


@pytest.fixture
def scheme(producer, pool):
    return Scheme(producer, pool)


async def collected(scheme: Scheme, count: int) -> list[str]:
    serials = [unique("BAT") for _ in range(count)]
    await scheme.applied(await scheme.sale([item(s) for s in serials]))
    for serial in serials:
        await scheme.applied(await scheme.collect(serial))
    return serials


async def states(scheme: Scheme, serials: list[str]) -> list[str]:
    return [(await scheme.battery(s))["state"] for s in serials]


async def test_a_lot_goes_through_transit_receipt_and_recovery(scheme, pool):
    serials = await collected(scheme, 3)
    lot = await scheme.dispatch(serials, mass=100.0)
    await scheme.applied(lot)
    lot_id = lot["data"]["lot_id"]
    assert await states(scheme, serials) == ["in_transit"] * 3
    await scheme.applied(await scheme.receive(lot_id, serials, mass=99.0))
    assert await states(scheme, serials) == ["at_recycler"] * 3
    assert (await scheme.battery(serials[0]))["custodian_id"] == scheme.recycler
    assert await scheme.discrepancies(lot_id) == []
    await scheme.applied(await scheme.recover(lot_id, cost=6100))
    assert await states(scheme, serials) == ["recycled"] * 3
    assert lines_of((await scheme.postings(lot_id))[f"recovery:{lot_id}"]) == {
        ("fund:recycling", 6100, 0, "EUR"),
        (f"payable:recycler:{scheme.recycler}", 0, 6100, "EUR"),
    }
    materials = await pool.fetch(
        "SELECT material, mass_kg FROM scheme.recovered_materials WHERE lot_id = $1", lot_id
    )
    assert {r["material"] for r in materials} == {"lithium", "cobalt"}


async def test_a_lot_with_a_battery_not_collected_here_is_refused_whole_naming_it(scheme):
    serials = await collected(scheme, 2)
    in_use = unique("BAT")
    await scheme.applied(await scheme.sale([item(in_use)]))
    lot = await scheme.dispatch([*serials, in_use])
    await scheme.rejected(lot, "custody_mismatch")
    message = await scheme.pool.fetchval(
        "SELECT convert_from(value, 'UTF8')::jsonb->'data'->>'message' FROM scheme.outbox "
        "WHERE topic = 'takeback.rejections' AND key = $1",
        lot["data"]["lot_id"],
    )
    assert in_use in message and serials[0] not in message
    assert await states(scheme, serials) == ["collected"] * 2


async def test_a_lot_id_is_used_once(scheme):
    first, second = await collected(scheme, 1), await collected(scheme, 1)
    lot = await scheme.dispatch(first)
    await scheme.applied(lot)
    await scheme.rejected(await scheme.dispatch(second, lot_id=lot["data"]["lot_id"]), "duplicate_lot")


async def test_receipt_opens_missing_unexpected_and_mass_discrepancies(scheme):
    serials = await collected(scheme, 3)
    lot = await scheme.dispatch(serials, mass=100.0)
    await scheme.applied(lot)
    lot_id, stranger = lot["data"]["lot_id"], unique("BAT")
    await scheme.applied(await scheme.receive(lot_id, [serials[0], serials[1], stranger], mass=90.0))
    assert await scheme.discrepancies(serials[2]) == ["missing_in_transit"]
    assert await scheme.discrepancies(stranger) == ["unexpected_in_lot"]
    assert await scheme.discrepancies(lot_id) == ["mass_mismatch"]
    assert await states(scheme, serials) == ["at_recycler", "at_recycler", "in_transit"]


async def test_a_mass_within_two_percent_opens_nothing(scheme):
    serials = await collected(scheme, 1)
    lot = await scheme.dispatch(serials, mass=100.0)
    await scheme.applied(lot)
    await scheme.applied(await scheme.receive(lot["data"]["lot_id"], serials, mass=98.0))
    assert await scheme.discrepancies(lot["data"]["lot_id"]) == []


async def test_receiving_an_unknown_lot_is_refused(scheme):
    await scheme.rejected(await scheme.receive(unique("L"), [unique("BAT")]), "unknown_lot")


async def test_receiving_a_lot_twice_is_refused(scheme):
    serials = await collected(scheme, 1)
    lot = await scheme.dispatch(serials)
    await scheme.applied(lot)
    await scheme.applied(await scheme.receive(lot["data"]["lot_id"], serials))
    await scheme.rejected(await scheme.receive(lot["data"]["lot_id"], serials), "lot_already_received")


async def test_recovery_of_an_unknown_lot_is_refused(scheme):
    await scheme.rejected(await scheme.recover(unique("L")), "unknown_lot")


async def test_recovery_before_receipt_is_refused(scheme):
    serials = await collected(scheme, 1)
    lot = await scheme.dispatch(serials)
    await scheme.applied(lot)
    await scheme.rejected(await scheme.recover(lot["data"]["lot_id"]), "lot_not_received")


async def test_recovery_is_confirmed_once(scheme):
    serials = await collected(scheme, 1)
    lot = await scheme.dispatch(serials)
    await scheme.applied(lot)
    await scheme.applied(await scheme.receive(lot["data"]["lot_id"], serials))
    await scheme.applied(await scheme.recover(lot["data"]["lot_id"]))
    await scheme.rejected(await scheme.recover(lot["data"]["lot_id"]), "recovery_already_confirmed")
