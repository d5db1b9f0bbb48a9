"""Who is calling: a presented key checked against its stored MAC, cached briefly and boundedly.

A verified key is remembered for at most `KEY_CACHE_TTL_S`, so a revocation takes
effect on every gateway process within that time (plus one lookup); unknown, forged and
revoked keys are never cached. The cache is keyed by the whole presented key, so a
known key id with another secret never meets a cached entry. Requests that present the
same key id while it is looked up share that one lookup (each still checks its own
secret against the stored MAC): a burst on a key whose entry just expired costs one
query, not one a request.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable

from services.gateway.domain.errors import Unauthenticated
from services.gateway.domain.keys import KeyHolder, StoredKey, parse_presented
from services.gateway.service_layer.ports import KeyRepository

KEY_CACHE_TTL_S = 2.0
KEY_CACHE_ENTRIES_MAX = 10_000


class KeyVerifier:
    def __init__(
        self,
        repository: KeyRepository,
        ttl_s: float = KEY_CACHE_TTL_S,
        entries_max: int = KEY_CACHE_ENTRIES_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert ttl_s >= 0, "a cache lifetime is not negative"
        assert entries_max >= 1, "the cache holds at least one key"
        self.repository, self.ttl_s, self.entries_max, self.clock = repository, ttl_s, entries_max, clock
        self._verified: dict[bytes, tuple[float, KeyHolder]] = {}  # fingerprint -> (expires, holder)
        self._lookups: dict[str, asyncio.Future] = {}  # key id -> its lookup under way (at most one a key id)

    async def verify(self, presented: str | None) -> KeyHolder:
        """The holder of a valid key, or `Unauthenticated` with the reason."""
        if not presented:
            raise Unauthenticated("missing_key", "send `Authorization: Bearer <API key>`")
        key_id, secret = parse_presented(presented)
        fingerprint = hashlib.sha256(presented.encode()).digest()
        cached = self._verified.get(fingerprint)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        stored = await self._lookup(key_id)
        if stored is None or not stored.matches(secret):
            raise Unauthenticated("unknown_key", "this API key is not known to the scheme")
        if stored.revoked_at is not None:
            raise Unauthenticated(
                "revoked_key", f"API key {key_id} was revoked at {stored.revoked_at.isoformat()}"
            )
        self._remember(fingerprint, stored.holder())
        return stored.holder()

    async def _lookup(self, key_id: str) -> StoredKey | None:
        """The stored key, read once for every request that asks while the read is under way."""
        under_way = self._lookups.get(key_id)
        if under_way is None:
            under_way = self._lookups[key_id] = asyncio.ensure_future(self.repository.get(key_id))
            under_way.add_done_callback(lambda done: self._lookup_ended(key_id, done))
        return await asyncio.shield(under_way)  # one request cancelled does not cancel the others' lookup

    def _lookup_ended(self, key_id: str, done: asyncio.Future) -> None:
        self._lookups.pop(key_id, None)
        if not done.cancelled():
            done.exception()  # retrieved here too: every asker may have gone (each got it, or was cancelled)

    def _remember(self, fingerprint: bytes, holder: KeyHolder) -> None:
        self._verified.pop(fingerprint, None)
        while len(self._verified) >= self.entries_max:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        self._verified[fingerprint] = (self.clock() + self.ttl_s, holder)
