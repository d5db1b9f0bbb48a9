"""Who is calling: a presented key checked against its stored MAC, cached briefly and boundedly.

A verified key is remembered for at most `KEY_CACHE_TTL_S`, so a revocation takes
effect on every gateway within that time; unknown keys are never cached.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from services.gateway.domain.errors import Unauthenticated
from services.gateway.domain.keys import KeyHolder, parse_presented
from services.gateway.service_layer.ports import KeyRepository

KEY_CACHE_TTL_S = 2.0
KEY_CACHE_ENTRIES_MAX = 10_000


class KeyVerifier:
    def __init__(self, repository: KeyRepository, ttl_s: float = KEY_CACHE_TTL_S,
                 entries_max: int = KEY_CACHE_ENTRIES_MAX, clock: Callable[[], float] = time.monotonic) -> None:
        assert ttl_s >= 0, "a cache lifetime is not negative"
        assert entries_max >= 1, "the cache holds at least one key"
        self.repository, self.ttl_s, self.entries_max, self.clock = repository, ttl_s, entries_max, clock
        self._verified: dict[bytes, tuple[float, KeyHolder]] = {}  # fingerprint -> (expires, holder)

    async def verify(self, presented: str | None) -> KeyHolder:
        """The holder of a valid key, or `Unauthenticated` with the reason."""
        if not presented:
            raise Unauthenticated("missing_key", "send `Authorization: Bearer <API key>`")
        key_id, secret = parse_presented(presented)
        fingerprint = hashlib.sha256(presented.encode()).digest()
        cached = self._verified.get(fingerprint)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        stored = await self.repository.get(key_id)
        if stored is None or not stored.matches(secret):
            raise Unauthenticated("unknown_key", "this API key is not known to the scheme")
        if stored.revoked_at is not None:
            raise Unauthenticated("revoked_key", f"API key {key_id} was revoked at {stored.revoked_at.isoformat()}")
        self._remember(fingerprint, stored.holder())
        return stored.holder()

    def _remember(self, fingerprint: bytes, holder: KeyHolder) -> None:
        self._verified.pop(fingerprint, None)
        while len(self._verified) >= self.entries_max:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        self._verified[fingerprint] = (self.clock() + self.ttl_s, holder)
