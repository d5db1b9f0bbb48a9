"""What a chaos run sends, event by event, with what each must end as; and what it all must cause."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from contracts import topics
from services.bench.scenario import encode
from services.chaos.model import ExpectedEntry
from services.demo.world import event

KAFKA, HTTP = "kafka", "http"
# How an event's outcome is found: its own row in the inbox; a copy (same id, same content) has none of
# its own; a conflict (same id, other content) and a value too large to read are rejected on the rejections
# topic, by id or by position.
NEW, COPY, CONFLICT, TOO_LARGE = "new", "copy", "conflict", "too_large"


@dataclass(frozen=True)
class Planned:
    event_id: str
    event_type: str
    topic: str
    key: str
    value: bytes
    route: str
    source_id: str
    expected: tuple[str, str | None]
    kind: str = NEW


def planned(
    event_type: str,
    kind: str,
    source_id: str,
    data: dict,
    expected: tuple[str, str | None],
    route: str = KAFKA,
) -> Planned:
    """An event of the contract, built by the demo's envelope builder and encoded as the bench encodes."""
    envelope = event(event_type, kind, source_id, datetime.now(UTC).isoformat(), data)
    return from_envelope(envelope, expected, route)


def from_envelope(
    envelope: dict,
    expected: tuple[str, str | None],
    route: str = KAFKA,
    kind: str = NEW,
    value: bytes | None = None,
) -> Planned:
    event_type = envelope["type"]
    key = envelope["data"][topics.KEY_FIELD_OF_TYPE[event_type]]
    return Planned(
        envelope["event_id"],
        event_type,
        topics.TOPIC_OF_TYPE[event_type],
        key,
        value if value is not None else encode(envelope),
        route,
        envelope["source"]["id"],
        expected,
        kind,
    )


@dataclass(frozen=True)
class Wave:
    number: int
    events: tuple[Planned, ...]


@dataclass
class Expectations:
    """Grows as the scenario plans; the checker reads it once the run is over."""

    events: dict[str, Planned] = field(default_factory=dict)  # event_id -> the planned event that owns it
    extras: list[Planned] = field(
        default_factory=list
    )  # copies, conflicts, too large: no inbox row of their own
    entries: list[ExpectedEntry] = field(default_factory=list)
    refunds: dict[str, int] = field(default_factory=dict)  # serial -> amount
    accounts: set[str] = field(default_factory=set)  # the run's own accounts, compared exactly

    def add(self, item: Planned) -> Planned:
        if item.kind == NEW:
            assert item.event_id not in self.events, "a new event has a new id"
            self.events[item.event_id] = item
        else:
            self.extras.append(item)
        return item

    def post(self, entry: ExpectedEntry | None) -> None:
        if entry is not None:
            self.entries.append(entry)
