"""The scheme's rows as JSON for PostgreSQL: exact numbers, instants with their offset, bytes as bytea hex."""

from __future__ import annotations

import json
import uuid
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from streams.adapters import rows
from streams.adapters.rows import CollectionRow, InboxRow, as_json, columns


def test_a_row_is_an_object_keyed_by_its_columns_in_order():
    at = datetime(2026, 11, 24, 10, 15, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    row = CollectionRow(
        uuid.UUID(int=1), "C-1", "BAT-1", "centre-7", "functional", Decimal("2.80"), "refunded", at
    )
    [read] = json.loads(as_json([row]))
    assert list(read) == list(columns(CollectionRow))
    assert (read["mass_kg"], read["occurred_at"], read["event_id"]) == (
        "2.80",
        "2026-11-24T10:15:00.123456+01:00",
        str(uuid.UUID(int=1)),
    )


def test_a_hash_is_bytea_hex_and_money_an_exact_integer():
    row = InboxRow(
        uuid.uuid4(),
        b"\x00\xff",
        "sale.recorded",
        "takeback.sales",
        0,
        2**62,
        None,
        "applied",
        None,
        "pos",
        "store-1",
    )
    [read] = json.loads(as_json([row]))
    assert (read["content_hash"], read["offset"], read["occurred_at"]) == ("\\x00ff", 2**62, None)


def test_every_row_is_frozen_with_slots():
    for row_type in (getattr(rows, name) for name in dir(rows) if name.endswith("Row")):
        assert row_type.__dataclass_params__.frozen and hasattr(row_type, "__slots__")
        assert columns(row_type) == tuple(f.name for f in fields(row_type))


def test_a_row_for_copy_is_its_values_in_column_order():
    at = datetime(2026, 11, 24, tzinfo=UTC)
    row = CollectionRow(
        uuid.UUID(int=1), "C-1", "BAT-1", "centre-7", "functional", None, "taken_back_free", at
    )
    assert rows.record_of(CollectionRow)(row) == tuple(getattr(row, name) for name in columns(CollectionRow))
