"""The material recovery rule (services/ledger/domain/material_recovery.py): a lot counts, recovered mass and
content alike, only when every battery it received has a known composition; any other lot is left out of
both sides, whole, and is reported as left out."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.ledger.domain.composition import MATERIAL_FRACTIONS, MATERIALS, composition_known
from services.ledger.domain.material_recovery import covered, material_recovery
from services.ledger.domain.recycling_efficiency import ReceivedBatteries, RecoveredLot

D = Decimal


def lot(lot_id: str, input_kg: str, *parts: ReceivedBatteries) -> RecoveredLot:
    return RecoveredLot(lot_id, D(input_kg), None, parts)


def nmc(n: int, kg: str) -> ReceivedBatteries:
    return ReceivedBatteries("li-ion-nmc", n, D(kg), 0)


ORPHAN = ReceivedBatteries(None, 1, D("3.0"), 0)  # never sold here: chemistry unknown, whatever it weighs


def test_a_mixed_lot_is_left_out_of_both_sides_and_a_known_lot_counts():
    lots = [lot("mixed", "5.9", nmc(1, "2.8"), ORPHAN), lot("known", "2.9", nmc(1, "2.8"))]
    recovered = {"mixed": {"cobalt": D("0.3")}, "known": {"cobalt": D("0.126")}}
    result = material_recovery(lots, recovered)
    assert result.recovered_kg["cobalt"] == D("0.126") and result.recovered_kg_left_out["cobalt"] == D("0.3")
    assert result.content_kg["cobalt"] == D("2.8") * D("0.05")
    assert result.rate_percent("cobalt") == D("90.00")  # 0.126 / 0.14; counting the orphan's lot: 152.14
    assert (result.lots, result.lots_left_out, result.input_kg, result.input_kg_left_out) == (
        2,
        1,
        D("8.8"),
        D("5.9"),
    )
    assert result.coverage_percent == D("32.95")  # 2.9 of 8.8 kg
    assert (result.batteries, result.batteries_without_composition) == (3, 1)


def test_what_makes_a_composition_unknown():
    assert not composition_known(None) and not composition_known("other")
    assert all(composition_known(c) for c in MATERIAL_FRACTIONS if c != "other")
    assert not covered(lot("other", "1", ReceivedBatteries("other", 1, D("1"), 0)))
    assert not covered(lot("no mass", "1", ReceivedBatteries("li-ion-lfp", 2, D("1.2"), 1)))
    assert not covered(lot("empty", "1"))  # received nothing: no content to set its recovered mass against
    assert covered(lot("known", "4", nmc(1, "2.8"), ReceivedBatteries("li-ion-lfp", 1, D("1.2"), 0)))


def test_no_lot_no_rate_and_no_coverage():
    result = material_recovery([], {})
    assert result.coverage_percent is None and result.rate_percent("cobalt") is None
    only_left_out = material_recovery([lot("mixed", "5", ORPHAN)], {"mixed": {"nickel": D("1")}})
    assert only_left_out.coverage_percent == D("0.00") and only_left_out.rate_percent("nickel") is None


def test_a_material_the_covered_batteries_do_not_hold_has_no_rate():
    result = material_recovery([lot("lfp", "1.2", ReceivedBatteries("li-ion-lfp", 1, D("1.2"), 0))], {})
    assert result.rate_percent("cobalt") is None and result.rate_percent("iron") == D("0.00")


masses = st.decimals(min_value=D("0.1"), max_value=D("500"), places=1)
chemistries = st.sampled_from(sorted(MATERIAL_FRACTIONS) + [None])
parts = st.builds(ReceivedBatteries, chemistries, st.integers(1, 5), masses, st.sampled_from([0, 0, 1]))
yields = st.dictionaries(st.sampled_from(MATERIALS), st.decimals(D("0.001"), D("50"), places=3), max_size=4)


@given(st.lists(st.tuples(st.lists(parts, max_size=3), masses, yields), max_size=6), st.data())
def test_left_out_lots_never_move_a_rate_and_every_kilogram_is_counted_once(raw, data):
    lots = [lot(f"L{i}", str(kg), *received) for i, (received, kg, _) in enumerate(raw)]
    recovered = {f"L{i}": out for i, (_, _, out) in enumerate(raw)}
    result = material_recovery(lots, recovered)
    kept = [x for x in lots if covered(x)]
    alone = material_recovery(kept, recovered)
    for material in MATERIALS:
        assert result.rate_percent(material) == alone.rate_percent(material), material
        total = sum((out.get(material, D(0)) for out in recovered.values()), D(0))
        counted, left_out = result.recovered_kg, result.recovered_kg_left_out
        assert counted.get(material, D(0)) + left_out.get(material, D(0)) == total
    assert result.lots - result.lots_left_out == len(kept)
    # A recycler that recovers at most each covered battery's content never shows more than 100 %.
    honest = {
        x.lot_id: {m: kg * data.draw(st.sampled_from([D("0.5"), D(1)])) for m, kg in content(x).items()}
        for x in lots
    }
    rates = material_recovery(lots, honest)
    assert all((rates.rate_percent(m) or 0) <= 100 for m in MATERIALS)


def content(x: RecoveredLot) -> dict[str, Decimal]:
    """Every material in the lot's batteries (an orphan's as if it were lithium cobalt oxide: cobalt-rich)."""
    out: dict[str, Decimal] = {}
    for part in x.received:
        for m, f in MATERIAL_FRACTIONS[part.chemistry or "li-ion-lco"].items():
            out[m] = out.get(m, D(0)) + part.mass_kg * f
    return out


def test_the_demo_recycler_recovers_less_than_the_content_it_is_judged_against():
    from services.demo.world import RECOVERY_KG_PER_KG

    for chemistry, shares in RECOVERY_KG_PER_KG.items():
        for material, share in shares.items():
            assert D(str(share)) < MATERIAL_FRACTIONS[chemistry][material], (chemistry, material)
