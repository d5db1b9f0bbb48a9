"""Rate limits (contract 8.4): requests per key, and failed authentications per client address.

- Each verified key spends a token of its bucket per request; an empty bucket is
  429 `rate_limited` with `Retry-After`.
- Each failed authentication (no key, a malformed, unknown or revoked key) spends
  a token of its address's bucket. While that bucket is empty, every request from
  the address that needs a key is 429 `too_many_failed_authentications`, before
  the key is looked up: guessing keys costs the database nothing. (Requests
  already being checked when the bucket empties still finish: at most the
  connections an address holds open, itself bounded by the server.)

The address is the peer of the connection (forwarded-for headers are not trusted).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from services.common.settings import Settings
from services.gateway.domain.errors import TooManyRequests
from services.gateway.domain.rate_limits import TokenBuckets, client_address, retry_after_s

KEY_BUCKETS_MAX = 10_000  # entries (about 300 bytes each): keys that sent a request lately
ADDRESS_BUCKETS_MAX = 10_000  # entries (about 300 bytes each): addresses that failed to authenticate lately


class RateLimiter:
    def __init__(
        self,
        key_rate_per_s: float,
        key_burst: int,
        failure_rate_per_s: float,
        failure_burst: int,
        on_limited: Callable[[str], None] = lambda kind: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keys = TokenBuckets(key_rate_per_s, key_burst, KEY_BUCKETS_MAX, clock)
        self.failures = TokenBuckets(failure_rate_per_s, failure_burst, ADDRESS_BUCKETS_MAX, clock)
        self.on_limited = on_limited

    @classmethod
    def from_settings(
        cls, settings: Settings, on_limited: Callable[[str], None] = lambda kind: None
    ) -> RateLimiter:
        return cls(
            settings.http_key_rate_per_s,
            settings.http_key_burst,
            settings.http_auth_failure_rate_per_s,
            settings.http_auth_failure_burst,
            on_limited,
        )

    def check_address(self, host: str | None) -> None:
        """429 while this address has used up its failed authentications."""
        wait_s = self.failures.wait_s(client_address(host))
        if wait_s > 0:
            self.on_limited("address")
            raise TooManyRequests(
                "too_many_failed_authentications",
                "too many failed authentications from this address; retry later",
                retry_after_s(wait_s),
            )

    def authentication_failed(self, host: str | None) -> None:
        self.failures.take(client_address(host))

    def check_key(self, key_id: str) -> None:
        """Spend one of this key's tokens; 429 if it has none."""
        wait_s = self.keys.take(key_id)
        if wait_s > 0:
            self.on_limited("key")
            raise TooManyRequests(
                "rate_limited", f"too many requests with key {key_id}; retry later", retry_after_s(wait_s)
            )
