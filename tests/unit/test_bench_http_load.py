"""The HTTP bench's figures: nearest-rank percentiles, latency in milliseconds, rates by status."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.bench.http_load import Load, latency_ms, percentile


def test_the_percentiles_of_one_to_a_hundred_are_their_ranks():
    values = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose
    assert (percentile(values, 0.50), percentile(values, 0.99), percentile(values, 1.0)) == (
        50.0,
        99.0,
        100.0,
    )


def test_the_p99_of_fewer_than_a_hundred_values_is_the_largest():
    assert percentile([0.3, 0.1, 0.2, 0.9, 0.5], 0.99) == 0.9
    assert percentile([0.3, 0.1, 0.2, 0.9, 0.5], 0.50) == 0.3
    assert percentile([7.0], 0.5) == 7.0


@given(
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=300),
    st.sampled_from([0.5, 0.9, 0.99, 0.999, 1.0]),
)
def test_a_percentile_is_the_smallest_value_with_at_least_that_share_at_or_below_it(values, share):
    found = percentile(values, share)
    assert found in values
    assert sum(v <= found for v in values) >= math.ceil(share * len(values))
    assert sum(v < found for v in values) < math.ceil(share * len(values))


def test_no_values_is_a_programming_error():
    with pytest.raises(AssertionError):
        percentile([], 0.5)


def test_latency_is_in_milliseconds_rounded_to_a_tenth_and_none_without_values():
    assert latency_ms([0.01234, 0.002, 0.5]) == {"p50_ms": 12.3, "p99_ms": 500.0}
    assert latency_ms([]) == {"p50_ms": None, "p99_ms": None}


def test_a_rate_counts_only_the_answers_of_its_status():
    load = Load(answers=[(202, 0.1), (202, 0.2), (429, 0.01), (0, 30.0)], wall_s=2.0)
    assert load.rate_per_s(202) == 1.0
    assert load.seconds(202) == [0.1, 0.2]
    assert dict(load.statuses) == {202: 2, 429: 1, 0: 1}
