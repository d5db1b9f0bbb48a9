"""Offsets of an input partition that no batch gave an outcome to: the rule behind `offsets_accounted`."""

from __future__ import annotations

Span = tuple[int, int]  # first and last offset, both included


def uncovered(islands: list[Span], low: int, high: int) -> list[Span]:
    """The spans of [low, high) that no island covers; islands are sorted and do not touch each other."""
    assert low <= high, "a partition's log start is never past the committed offset"
    gaps: list[Span] = []
    next_offset = low
    for first, last in islands:
        assert first <= last, "an island is a run of offsets"
        if last < next_offset:
            continue
        if first > next_offset:
            gaps.append((next_offset, min(first, high) - 1))
        next_offset = max(next_offset, last + 1)
        if next_offset >= high:
            break
    if next_offset < high:
        gaps.append((next_offset, high - 1))
    return [(first, last) for first, last in gaps if first <= last]


def offsets_in(spans: list[Span], limit: int) -> list[int]:
    """The first `limit` offsets of the spans, in order."""
    out: list[int] = []
    for first, last in spans:
        for offset in range(first, min(last + 1, first + limit - len(out))):
            out.append(offset)
        if len(out) >= limit:
            break
    return out
