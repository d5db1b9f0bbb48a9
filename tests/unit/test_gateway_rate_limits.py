"""Token buckets in a bounded table, and the gateway's two limits built on them (no clock but a fake one)."""

from __future__ import annotations

import pytest

from services.gateway.domain.errors import TooManyRequests
from services.gateway.domain.rate_limits import TokenBuckets, client_address, retry_after_s
from services.gateway.service_layer.rate_limiting import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_gives_its_burst_then_one_token_per_interval():
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=2, burst=3, entries_max=10, clock=clock)
    assert [buckets.take("k") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("k") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("k") == 0
    assert buckets.take("k") == pytest.approx(0.5)


def test_a_bucket_never_holds_more_than_its_burst():
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=100, burst=2, entries_max=10, clock=clock)
    buckets.take("k")
    clock.now += 3600
    assert [buckets.take("k") for _ in range(3)][-1] > 0


def test_the_table_is_bounded_and_forgets_the_least_recently_used():
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=1, burst=1, entries_max=100, clock=clock)
    buckets.take("old")
    for n in range(10_000):
        buckets.take(f"name-{n}")
    assert len(buckets) == 100
    assert buckets.wait_s("old") == 0  # evicted: it starts afresh
    assert buckets.wait_s("name-9999") > 0


def test_retry_after_is_whole_seconds_rounded_up():
    assert [retry_after_s(w) for w in (0.01, 1.0, 1.2)] == [1, 1, 2]


@pytest.mark.parametrize(
    "host, name",
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        (None, "unknown"),
    ],
)
def test_an_ipv6_client_is_limited_by_its_64_network(host, name):
    assert client_address(host) == name


def test_failed_authentications_block_the_address_until_a_token_returns():
    clock, limited = Clock(), []
    limiter = RateLimiter(
        key_rate_per_s=10,
        key_burst=10,
        failure_rate_per_s=0.5,
        failure_burst=2,
        on_limited=limited.append,
        clock=clock,
    )
    for _ in range(2):
        limiter.check_address("192.0.2.7")
        limiter.authentication_failed("192.0.2.7")
    with pytest.raises(TooManyRequests) as refused:
        limiter.check_address("192.0.2.7")
    assert (refused.value.reason, refused.value.retry_after_s) == ("too_many_failed_authentications", 2)
    limiter.check_address("192.0.2.8")  # another address is not affected
    clock.now += 2
    limiter.check_address("192.0.2.7")
    assert limited == ["address"]


def test_a_key_over_its_rate_is_429_and_another_key_is_not():
    clock, limited = Clock(), []
    limiter = RateLimiter(
        key_rate_per_s=1,
        key_burst=2,
        failure_rate_per_s=1,
        failure_burst=1,
        on_limited=limited.append,
        clock=clock,
    )
    limiter.check_key("a")
    limiter.check_key("a")
    with pytest.raises(TooManyRequests) as refused:
        limiter.check_key("a")
    assert (refused.value.status, refused.value.reason, refused.value.retry_after_s) == (
        429,
        "rate_limited",
        1,
    )
    limiter.check_key("b")
    assert limited == ["key"]
