"""Consumer lag of the scheme's consumer groups: committed offsets against end offsets, per topic."""

from __future__ import annotations

import asyncio
from collections import Counter

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

CONSUMER_GROUPS = ("takeback-streams", "takeback-ledger")
LAG_TIMEOUT_S = 2.0


class ConsumerLagReader:
    """Started with the gateway; a group-less consumer only asks for end offsets, it never reads."""

    def __init__(
        self, bootstrap: str, groups: tuple[str, ...] = CONSUMER_GROUPS, options: dict | None = None
    ) -> None:
        self.groups = groups
        self.admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=5_000, **(options or {})
        )
        self.offsets = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **(options or {})
        )

    async def start(self) -> None:
        await self.admin.start()
        await self.offsets.start()

    async def stop(self) -> None:
        await self.offsets.stop()
        await self.admin.close()

    async def lag(self) -> Counter[tuple[str, str]]:
        """(group, topic) -> messages not yet committed by that group."""
        return await asyncio.wait_for(self._lag(), LAG_TIMEOUT_S)

    async def _lag(self) -> Counter[tuple[str, str]]:
        lag: Counter[tuple[str, str]] = Counter()
        for group in self.groups:
            committed = await self.admin.list_consumer_group_offsets(group)
            committed = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
            if not committed:
                continue
            ends = await self.offsets.end_offsets(list(committed))
            for tp, offset in committed.items():
                lag[(group, tp.topic)] += max(0, ends[tp] - offset)
        return lag
