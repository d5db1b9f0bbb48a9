"""The benchmark mixes the stages of a wave evenly and keeps each stage's own order."""

from __future__ import annotations

from services.bench.runner import interleave


def test_stages_are_spread_over_the_wave_in_their_own_order():
    sales, collections = [f"s{i}" for i in range(2)], [f"c{i}" for i in range(10)]
    mixed = interleave([sales, collections])
    assert sorted(mixed) == sorted(sales + collections)
    assert [m for m in mixed if m.startswith("s")] == sales
    assert [m for m in mixed if m.startswith("c")] == collections
    first_sale, second_sale = mixed.index("s0"), mixed.index("s1")
    assert 0 < first_sale < len(mixed) // 2 < second_sale < len(mixed) - 1  # not a burst at either end
