"""The chaos run's load: battery lives in chunks, each chunk one stage further every wave.

Wave 0 publishes the run's terms. Wave w then holds the sales of chunk w - 1, the
returns of chunk w - 2, the lots out of chunk w - 3, and so on: every stage of a
life is busy at once, and an event is only sent once what it depends on has an
outcome (the driver waits for a wave before it sends the next), as a real
producer waits for its sale to be accepted before the collection.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from services.chaos import bad_events, lots, stages
from services.chaos.model import BatteryModel, LotModel
from services.chaos.plan import Expectations, Planned, Wave
from services.chaos.world import RunWorld

EVENTS_PER_BATTERY = 2.2  # a sale per 2.2 items, a return, a transfer to the transporter
EVENTS_PER_CHUNK_FIXED = 15  # lots, receipts, recoveries and the deliberately bad events of a chunk
EVENTS_PER_CHUNK = 1600  # about this many events a wave
CHUNKS_MIN, CHUNKS_MAX = 3, 400
BATTERIES_PER_CHUNK_MIN = 8


# Stage s of chunk c is planned in wave c + 1 + s: a battery's life, one stage a wave.
STAGES = (stages.sales, stages.returns, lots.lots_out, lots.transport, lots.receipts, lots.recoveries)


@dataclass
class Scenario:
    world: RunWorld
    rng: random.Random
    chunks: int
    per_chunk: int
    expect: Expectations = field(default_factory=Expectations)
    batteries: dict[str, BatteryModel] = field(default_factory=dict)
    chunk_serials: dict[int, list[str]] = field(default_factory=dict)
    lots: dict[int, list[LotModel]] = field(default_factory=dict)
    collections: dict[int, list[dict]] = field(default_factory=dict)  # envelopes, for copies and conflicts
    sales: dict[int, list[str]] = field(default_factory=dict)  # sale ids per chunk
    next_serial: int = 0

    @classmethod
    def sized(cls, world: RunWorld, seed: int, events: int) -> Scenario:
        chunks = min(CHUNKS_MAX, max(CHUNKS_MIN, events // EVENTS_PER_CHUNK))
        per_chunk = round((events / chunks - EVENTS_PER_CHUNK_FIXED) / EVENTS_PER_BATTERY)
        return cls(world, random.Random(seed), chunks, max(BATTERIES_PER_CHUNK_MIN, per_chunk))

    @property
    def waves_total(self) -> int:
        return 1 + self.chunks + len(STAGES) - 1

    def waves(self) -> Iterator[Wave]:
        """Planned lazily, one wave at a time: the model moves on as each wave is planned."""
        yield Wave(0, tuple(self.expect.add(p) for p in stages.terms(self)))
        middle = self.waves_total // 2
        for number in range(1, self.waves_total):
            events: list[Planned] = []
            for stage in reversed(range(len(STAGES))):  # the oldest chunk first
                chunk = number - 1 - stage
                if 0 <= chunk < self.chunks:
                    events += STAGES[stage](self, chunk)
            if number == middle:
                events.append(bad_events.too_large(self))
            self.rng.shuffle(events)  # the stages interleave, as a day's traffic does
            yield Wave(number, tuple(self.expect.add(p) for p in events))

    def new_serials(self, chunk: int) -> list[str]:
        serials = [self.world.serial(self.next_serial + i) for i in range(self.per_chunk)]
        self.next_serial += self.per_chunk
        self.chunk_serials[chunk] = serials
        return serials

    def chunk_batteries(self, chunk: int, state: str) -> list[BatteryModel]:
        return [b for s in self.chunk_serials[chunk] if (b := self.batteries[s]).state == state]
