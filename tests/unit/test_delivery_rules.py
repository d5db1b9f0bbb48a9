"""Pure rules of delivery: offsets without an outcome, bounded rejections."""

from __future__ import annotations

import base64
import hashlib

import pytest

from contracts.limits import REJECTION_ORIGINAL_BYTES_MAX
from services.ledger.domain.offsets import offsets_in, uncovered
from streams.adapters.rows import OffsetRangeRow
from streams.service_layer.batch import Message, offset_ranges
from streams.service_layer.events_out import original_of


@pytest.mark.parametrize(
    ("islands", "low", "high", "gaps"),
    [
        ([], 0, 0, []),
        ([], 3, 6, [(3, 5)]),
        ([(0, 9)], 0, 10, []),
        ([(0, 9)], 0, 8, []),  # read beyond the committed offset: in flight, not a gap
        ([(0, 3), (6, 9)], 0, 10, [(4, 5)]),
        ([(2, 3)], 0, 10, [(0, 1), (4, 9)]),
        ([(0, 3), (8, 20)], 5, 10, [(5, 7)]),  # below the log start: gone with retention
    ],
)
def test_uncovered_names_the_offsets_without_an_outcome(islands, low, high, gaps):
    assert uncovered(islands, low, high) == gaps


def test_offsets_in_is_bounded():
    assert offsets_in([(0, 1), (5, 100)], 4) == [0, 1, 5, 6]


def test_a_batch_records_runs_of_consecutive_offsets_per_partition():
    messages = [Message("t", p, o, None, b"") for p, o in [(0, 5), (0, 6), (1, 2), (0, 8), (0, 7), (0, 10)]]
    assert offset_ranges(messages) == [
        OffsetRangeRow("t", 0, 5, 8),
        OffsetRangeRow("t", 0, 10, 10),
        OffsetRangeRow("t", 1, 2, 2),
    ]


def test_a_long_utf8_original_is_cut_without_splitting_a_character():
    raw = ("é" * REJECTION_ORIGINAL_BYTES_MAX).encode()  # two bytes a character
    original = original_of(raw)
    assert len(original["original"].encode()) <= REJECTION_ORIGINAL_BYTES_MAX
    assert raw.startswith(original["original"].encode())
    assert (original["original_bytes"], original["original_sha256"], original["original_truncated"]) == (
        len(raw),
        hashlib.sha256(raw).hexdigest(),
        True,
    )


def test_a_short_original_is_whole_and_a_binary_one_is_base64_within_the_bound():
    assert original_of(b'{"a": 1}')["original"] == '{"a": 1}'
    assert original_of(b'{"a": 1}')["original_truncated"] is False
    raw = b"\xff" * (REJECTION_ORIGINAL_BYTES_MAX * 2)
    original = original_of(raw)
    assert len(original["original"]) <= REJECTION_ORIGINAL_BYTES_MAX
    assert raw.startswith(base64.b64decode(original["original"]))
