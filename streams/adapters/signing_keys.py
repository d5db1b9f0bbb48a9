"""The secrets events in are signed with (`scheme.signing_keys`), cached for a few seconds.

A key revoked by the command line stops verifying within CACHE_S.
"""

from __future__ import annotations

import time

import asyncpg

CACHE_S = 10.0
SIGNER_KIND = "signer"  # the kind of the gateway's and the operator's keys


class SigningKeys:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._known: dict[tuple[str, str], tuple[float, str | None]] = {}

    async def get(self, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The live secret of each (kind, id) asked for that has one."""
        now = time.monotonic()
        stale = [pair for pair in wanted if pair not in self._known or now - self._known[pair][0] > CACHE_S]
        if stale:
            rows = await self.pool.fetch(
                "SELECT signer_kind, signer_id, secret FROM scheme.signing_keys "
                "WHERE revoked_at IS NULL AND (signer_kind, signer_id) IN "
                "(SELECT * FROM unnest($1::text[], $2::text[]))",
                [kind for kind, _ in stale],
                [source for _, source in stale],
            )
            found = {(row["signer_kind"], row["signer_id"]): row["secret"] for row in rows}
            for pair in stale:
                self._known[pair] = (now, found.get(pair))
        return {pair: secret for pair in wanted if (secret := self._known[pair][1]) is not None}
