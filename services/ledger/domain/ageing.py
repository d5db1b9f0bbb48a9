"""The age of a deposit liability: how long ago the battery was sold, in whole days."""

from __future__ import annotations

from datetime import datetime, timedelta

# (label, age in whole days at most); the last bucket takes everything older.
AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("0-90 d", 90),
    ("91-365 d", 365),
    ("1-2 y", 730),
    ("2-5 y", 1826),
    (">5 y", None),
)
BUCKET_LABELS = tuple(label for label, _ in AGE_BUCKETS)


def age_days(sold_at: datetime, as_of: datetime) -> int:
    """Whole days between sale and `as_of`; a sale stamped after `as_of` (clock skew) is 0 days old."""
    assert sold_at.utcoffset() is not None, "sold_at must be timezone-aware"
    assert as_of.utcoffset() is not None, "as_of must be timezone-aware"
    return max(as_of - sold_at, timedelta(0)).days


def age_bucket(days: int) -> str:
    assert days >= 0, "an age is never negative"
    for label, days_max in AGE_BUCKETS:
        if days_max is None or days <= days_max:
            return label
    raise AssertionError("the last bucket is open-ended")
