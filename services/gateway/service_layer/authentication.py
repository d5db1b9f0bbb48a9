"""Who is calling: a presented key checked against its stored MAC, cached briefly and boundedly.

A verified key is remembered for at most `KEY_CACHE_TTL_S` after the database last
said it was valid, so a revocation takes effect on every gateway process within that
time (plus one lookup); unknown, forged and revoked keys are never cached. The cache is
keyed by the whole presented key, so a known key id with another secret never meets a
cached entry. Requests that present the same key id while it is looked up share that
one lookup (each still checks its own secret against the stored MAC): a burst on a key
whose entry just expired costs one query, not one a request.

`keep_fresh` (run by the gateway) reads again, every half lifetime and in one query,
every cached key used since its last reading: a key in use stays cached without a
lookup of its own every lifetime, and one revoked or gone is dropped at that reading
(its next request looks it up and is refused with the reason). A key not used meanwhile
is not read; its entry expires as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.common.logging import get_logger
from services.gateway.domain.errors import Unauthenticated
from services.gateway.domain.keys import KeyHolder, StoredKey, parse_presented
from services.gateway.service_layer.ports import KeyRepository

log = get_logger(__name__)
KEY_CACHE_TTL_S = 2.0
KEY_CACHE_ENTRIES_MAX = 10_000


@dataclass
class _Verified:
    expires: float  # on the verifier's clock
    holder: KeyHolder
    stored: StoredKey  # as read when it was last verified: a reading that differs drops the entry
    used: bool = False  # since the last reading (only keys in use are read again)


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
        self._verified: dict[bytes, _Verified] = {}  # fingerprint -> the verified key
        self._lookups: dict[str, asyncio.Future] = {}  # key id -> its lookup under way (at most one a key id)

    async def verify(self, presented: str | None) -> KeyHolder:
        """The holder of a valid key, or `Unauthenticated` with the reason."""
        if not presented:
            raise Unauthenticated("missing_key", "send `Authorization: Bearer <API key>`")
        key_id, secret = parse_presented(presented)
        fingerprint = hashlib.sha256(presented.encode()).digest()
        cached = self._verified.get(fingerprint)
        if cached is not None and cached.expires > self.clock():
            cached.used = True
            return cached.holder
        read_at = self.clock()
        stored = await self._lookup(key_id)
        if stored is None or not stored.matches(secret):
            raise Unauthenticated("unknown_key", "this API key is not known to the scheme")
        if stored.revoked_at is not None:
            raise Unauthenticated(
                "revoked_key", f"API key {key_id} was revoked at {stored.revoked_at.isoformat()}"
            )
        self._remember(fingerprint, stored, read_at)
        return stored.holder()

    async def refresh(self) -> None:
        """Read again, in one query, every cached key used since its last reading: each still valid and
        unchanged lives `ttl_s` from the moment that query started; any other is dropped."""
        started = self.clock()
        used = {fingerprint: entry for fingerprint, entry in self._verified.items() if entry.used}
        if not used:
            return
        found = await self.repository.get_many(sorted({entry.stored.key_id for entry in used.values()}))
        for fingerprint, entry in used.items():
            if self._verified.get(fingerprint) is not entry:
                continue  # dropped or verified again meanwhile
            if found.get(entry.stored.key_id) == entry.stored:  # the same row: not revoked, not replaced
                entry.expires, entry.used = max(entry.expires, started + self.ttl_s), False
            else:
                del self._verified[fingerprint]

    async def keep_fresh(self) -> None:
        """`refresh` every half lifetime, for as long as the gateway runs; a reading that fails leaves the
        entries to expire (their keys are then looked up one by one, as without this)."""
        while self.ttl_s > 0:
            await asyncio.sleep(self.ttl_s / 2)
            try:
                await self.refresh()
            except Exception as error:  # the database is away: nothing outlives its lifetime
                log.warning("keys_not_refreshed", error=repr(error)[:300])

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

    def _remember(self, fingerprint: bytes, stored: StoredKey, read_at: float) -> None:
        self._verified.pop(fingerprint, None)
        while len(self._verified) >= self.entries_max:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        self._verified[fingerprint] = _Verified(read_at + self.ttl_s, stored.holder(), stored)
