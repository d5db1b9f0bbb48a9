"""Token buckets, one per name (a key id, a client address), in a bounded least-recently-used table.

A bucket holds at most `burst` tokens and gains `rate_per_s` tokens a second; a
request takes one. An empty bucket says how long until its next token. The table
holds at most `entries_max` buckets: a new name evicts the one used longest ago
(which then starts afresh, full), so memory stays bounded whatever is sent.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable

IPV6_PREFIX_BITS = 64  # one IPv6 client holds a /64: its addresses share one bucket
RETRY_AFTER_S_MIN = 1  # Retry-After is whole seconds (RFC 9110), never 0
ADDRESSES_REMEMBERED = 4096  # peers whose limiting name is kept, not parsed again for every request


class TokenBuckets:
    def __init__(
        self, rate_per_s: float, burst: int, entries_max: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        assert rate_per_s > 0, "a bucket refills"
        assert burst >= 1, "a bucket holds at least one token"
        assert entries_max >= 1, "the table holds at least one bucket"
        self.rate_per_s, self.burst, self.entries_max, self.clock = rate_per_s, burst, entries_max, clock
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # name -> [tokens, as of (clock)]

    def __len__(self) -> int:
        return len(self._buckets)

    def wait_s(self, name: str) -> float:
        """Seconds until `name` has a token (0 if it has one now); takes nothing."""
        tokens = self._tokens(name)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate_per_s

    def take(self, name: str) -> float:
        """Take a token: 0 if there was one, else the seconds until there is (nothing is taken)."""
        wait_s = self.wait_s(name)
        if wait_s == 0:
            self._set(name, self._tokens(name) - 1)
        return wait_s

    def _tokens(self, name: str) -> float:
        bucket = self._buckets.get(name)
        if bucket is None:
            return float(self.burst)
        tokens, as_of = bucket
        return min(float(self.burst), tokens + (self.clock() - as_of) * self.rate_per_s)

    def _set(self, name: str, tokens: float) -> None:
        assert tokens >= 0, "a bucket never goes below empty"
        self._buckets[name] = [tokens, self.clock()]
        self._buckets.move_to_end(name)
        while len(self._buckets) > self.entries_max:
            self._buckets.popitem(last=False)  # the bucket used longest ago
        assert len(self._buckets) <= self.entries_max, "the table is bounded"


def retry_after_s(wait_s: float) -> int:
    """Whole seconds for `Retry-After`, rounded up."""
    return max(RETRY_AFTER_S_MIN, math.ceil(wait_s))


@functools.lru_cache(maxsize=ADDRESSES_REMEMBERED)
def client_address(host: str | None) -> str:
    """The name an address is limited under: an IPv4 address, or an IPv6 /64 network."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]  # not an IP (a unix socket path): limited under its name, bounded
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX_BITS}", strict=False))
    return str(address)
