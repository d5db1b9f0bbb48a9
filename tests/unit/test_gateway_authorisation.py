"""Accepting an event: parsed by the contract, authorised for the key, produced byte for byte, or refused."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts import topics
from contracts.events import canonical_hash
from services.gateway.adapters.event_publisher import RecordingEventPublisher
from services.gateway.domain.authorisation import authorise_finance_reading
from services.gateway.domain.errors import BadEvent, Forbidden
from services.gateway.domain.keys import KeyHolder
from services.gateway.service_layer.accept_event import accept_event

STORE = KeyHolder("0" * 16, "pos", "store-042", "producer")
FINANCE = KeyHolder("1" * 16, "finance", "finance-1", "finance")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def event(event_type: str, kind: str, source_id: str, data: dict) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "version": 1,
        "occurred_at": "2026-11-24T10:15:00+01:00",
        "source": {"kind": kind, "id": source_id},
        "data": data,
    }


def sale(store_id: str = "store-042", source_id: str = "store-042") -> dict:
    item = {
        "serial": "BAT-1",
        "sku": "EB-500",
        "category": "lmt",
        "chemistry": "li-ion-nmc",
        "mass_kg": 2.8,
        "deposit": 5000,
        "recycling_fee": 800,
        "contract": "deposit",
    }
    return event(
        "sale.recorded",
        "pos",
        source_id,
        {"sale_id": "S-1", "store_id": store_id, "currency": "EUR", "items": [item]},
    )


async def refusal(raw: dict | bytes, holder: KeyHolder = STORE, now: datetime = NOW):
    publisher = RecordingEventPublisher()
    with pytest.raises((BadEvent, Forbidden)) as refused:
        await accept_event(
            raw if isinstance(raw, bytes) else json.dumps(raw).encode(), holder, publisher, now
        )
    assert publisher.published == []
    return refused.value


async def test_an_accepted_event_is_produced_unchanged_to_its_topic_under_its_key():
    publisher, raw = RecordingEventPublisher(), json.dumps(sale(), indent=3).encode()
    event_id, event_type, sent_hash = await accept_event(raw, STORE, publisher, NOW)
    assert (str(event_id), event_type) == (json.loads(raw)["event_id"], "sale.recorded")
    assert sent_hash == canonical_hash(json.loads(raw))  # the inbox's content hash, from the one reading
    assert publisher.published == [(topics.SALES, "S-1", raw)]


@pytest.mark.parametrize(
    "raw, holder, reason",
    [
        (sale(), FINANCE, "type_not_allowed"),
        (
            event(
                "collection.logged",
                "pos",
                "store-042",
                {"collection_id": "C-1", "centre_id": "store-042", "serial": "BAT-1", "condition": "damaged"},
            ),
            STORE,
            "type_not_allowed",
        ),
        (sale(store_id="store-7", source_id="store-7"), STORE, "not_your_source"),
        (sale(store_id="store-7"), STORE, "source_mismatch"),
        (
            event(
                "custody.transferred",
                "transporter",
                "store-042",
                {
                    "serial": "BAT-1",
                    "from": {"kind": "pos", "id": "store-042"},
                    "to": {"kind": "transporter", "id": "t-1"},
                    "reason": "transport",
                },
            ),
            STORE,
            "not_your_source",
        ),
    ],
)
async def test_what_the_key_may_not_send_is_forbidden(raw, holder, reason):
    refused = await refusal(raw, holder)
    assert (type(refused), refused.reason, refused.event_type) == (Forbidden, reason, raw["type"])


async def test_every_failing_field_is_named():
    broken = sale()
    broken["data"]["items"][0].update(deposit=-1, mass_kg=0)
    broken["data"]["currency"] = "eur"
    refused = await refusal(broken)
    assert refused.reason == "schema_violation"
    assert {e["field"] for e in refused.errors} == {
        "data.currency",
        "data.items.0.deposit",
        "data.items.0.mass_kg",
    }


@pytest.mark.parametrize(
    "raw, reason",
    [(b"\xff", "invalid_json"), (b'{"type": "x.y"}', "unknown_type"), (b'{"a": 1, "a": 2}', "invalid_json")],
)
async def test_what_is_not_an_event_is_a_bad_event(raw, reason):
    assert (await refusal(raw)).reason == reason


async def test_an_event_more_than_five_minutes_ahead_is_refused():
    assert (await refusal(sale(), now=NOW - timedelta(days=1))).reason == "occurred_in_future"


def test_only_finance_keys_read_the_books():
    authorise_finance_reading(FINANCE)
    with pytest.raises(Forbidden) as refused:
        authorise_finance_reading(STORE)
    assert refused.value.reason == "finance_only"
