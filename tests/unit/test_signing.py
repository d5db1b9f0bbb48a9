"""Signed events in: a credential speaks only for the source it was made for (contract 8.4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.common.kafka import SIGNATURE_HEADER, SIGNER_HEADER, signature_headers, verify
from streams.service_layer.batch import Message, check_signatures, decode


class Keys:
    """The signing keys as the database would hold them."""

    def __init__(self, known: dict[tuple[str, str], str]) -> None:
        self.known = known

    async def get(self, wanted):
        return {pair: self.known[pair] for pair in wanted if pair in self.known}


def sale(store: str) -> bytes:
    return json.dumps(
        {
            "event_id": "2b7c1f0e-5d0a-4b53-9a8e-3c1f2d9e8a11",
            "type": "sale.recorded",
            "version": 1,
            "occurred_at": "2026-11-24T10:15:00+01:00",
            "source": {"kind": "pos", "id": store},
            "data": {
                "sale_id": "S-1",
                "store_id": store,
                "currency": "EUR",
                "items": [
                    {
                        "serial": "BAT-1",
                        "sku": "EB-500",
                        "category": "lmt",
                        "chemistry": "li-ion-nmc",
                        "mass_kg": 2.8,
                        "deposit": 5000,
                        "recycling_fee": 800,
                        "contract": "deposit",
                    }
                ],
            },
        }
    ).encode()


async def outcome(value: bytes, headers) -> tuple[str | None, bool]:
    item = decode(Message("takeback.sales", 0, 0, b"k", value, tuple(headers)), datetime.now(UTC))
    await check_signatures(
        [item], Keys({("pos", "store-1"): "k1", ("pos", "store-2"): "k2", ("signer", "gateway"): "kg"})
    )
    return (item.violation.reason if item.violation else None), item.by_position


def test_a_signature_verifies_only_the_value_it_was_made_for():
    headers = dict(signature_headers(b"abc", "secret"))
    assert verify("secret", b"abc", headers[SIGNATURE_HEADER])
    assert not verify("secret", b"abd", headers[SIGNATURE_HEADER])
    assert not verify("other", b"abc", headers[SIGNATURE_HEADER])
    assert not verify("secret", b"abc", None)


async def test_an_event_signed_by_its_source_passes():
    value = sale("store-1")
    assert await outcome(value, signature_headers(value, "k1")) == (None, False)


async def test_a_source_cannot_speak_for_another_and_unsigned_events_are_refused_by_position():
    value = sale("store-2")
    assert await outcome(value, signature_headers(value, "k1")) == ("source_mismatch", True)
    assert await outcome(value, []) == ("source_mismatch", True)


async def test_the_gateway_signs_for_the_sources_it_authenticated():
    value = sale("store-9")
    assert await outcome(value, signature_headers(value, "kg", "gateway")) == (None, False)
    assert await outcome(value, signature_headers(value, "k1", "gateway")) == ("source_mismatch", True)
    assert SIGNER_HEADER in dict(signature_headers(value, "kg", "gateway"))
