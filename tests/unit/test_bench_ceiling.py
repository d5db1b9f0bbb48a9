"""The bench's PostgreSQL ceiling copies rows shaped like the widest journal row the run writes.

Each row is compared with what the hot path itself makes of the same battery: the
streams' `sale_item` posting, read by the ledger into the `Entry` it copies.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from contracts.postings import PostingRequested
from services.bench import ceilings, scenario
from services.ledger.adapters.journal_repository import ENTRY_COLUMNS
from services.ledger.domain.journal import entry_from_request
from streams.domain import postings

NAMES = scenario.Names(run="Bdeadbeef")
AT = datetime(2026, 12, 1, tzinfo=UTC)


def hot_path_entry(posting: postings.Posting):
    return entry_from_request(PostingRequested.model_validate_json(posting.to_json()))


def sale_entry(i: int):
    first = i - i % scenario.ITEMS_PER_SALE
    posting = postings.sale_item(
        NAMES.sale_id(first),
        NAMES.store,
        NAMES.serial(i),
        "deposit",
        scenario.DEPOSIT,
        scenario.RECYCLING_FEE,
        scenario.CURRENCY,
        uuid.uuid4(),
        AT,
        suspense=False,
    )
    return hot_path_entry(posting)


def test_the_ceiling_copies_every_column_the_ledger_copies():
    assert sorted(ceilings.ENTRY_COLUMNS) == sorted(ENTRY_COLUMNS)


def test_every_row_is_the_sale_entry_the_hot_path_makes_of_that_battery():
    records = ceilings.widest_entry_records(25, NAMES)
    assert len(records) == 25
    for i, record in enumerate(records):
        row = dict(zip(ceilings.ENTRY_COLUMNS, record))
        entry = sale_entry(i)
        for column in ("entry_id", "posting_key", "kind", "subject", "reverses"):
            assert row[column] == getattr(entry, column), (i, column)
        for column in ("accounts", "currencies", "debits", "credits"):
            assert tuple(row[column]) == getattr(entry, column), (i, column)
        assert len(row["content_hash"]) == len(entry.content_hash)
        assert isinstance(row["caused_by"], uuid.UUID) and isinstance(row["posted_at"], datetime)


def test_the_sale_entry_is_the_widest_the_run_calls_for():
    """A battery's refund and a lot's recovery are the run's other entries: fewer lines, shorter arrays."""
    sale = sale_entry(0)
    refund = hot_path_entry(
        postings.refund(NAMES.serial(0), NAMES.centre, scenario.DEPOSIT, "EUR", uuid.uuid4(), AT)
    )
    recovery = hot_path_entry(
        postings.recovery(f"{NAMES.run}-L0", NAMES.recycler, 15_000, "EUR", uuid.uuid4(), AT)
    )
    for other in (refund, recovery):
        assert len(other.accounts) < len(sale.accounts)
        assert sum(map(len, other.accounts)) < sum(map(len, sale.accounts))
