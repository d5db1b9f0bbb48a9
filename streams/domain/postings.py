"""Journal postings the scheme's events call for (contract section 5).

Built from amounts the contract models already validated, as plain frozen
objects: a batch of sales builds tens of thousands of them, and pydantic
models (even unvalidated) cost five times as much. `Posting.to_json` writes
the wire form of `contracts.postings.PostingRequested`, which the ledger
validates when it reads it, balance included, once (and
`tests/unit/test_streams_domain.py` too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import orjson

from contracts import accounts
from contracts.accounts import BANK, FUND, LIABILITY, RESERVE
from contracts.postings import Line
from streams.domain.payment import account_of


@dataclass(frozen=True, slots=True)
class Posting:
    posting_key: str
    kind: str
    subject: str
    caused_by: UUID
    effective_at: datetime
    lines: tuple[Line, ...]
    reverses: str | None = None

    def to_json(self) -> bytes:
        """The `PostingRequested` wire form."""
        return orjson.dumps(
            {
                "posting_key": self.posting_key,
                "kind": self.kind,
                "subject": self.subject,
                "caused_by": self.caused_by,
                "effective_at": self.effective_at,
                "reverses": self.reverses,
                "lines": [line.as_dict() for line in self.lines],
            }
        )


def _posting(
    posting_key: str,
    kind: str,
    subject: str,
    caused_by: UUID,
    at: datetime,
    lines: tuple[Line, ...],
    reverses: str | None = None,
) -> Posting:
    """Balanced by construction (each builder below debits what it credits, in one currency, and drops zero
    amounts), so not checked here: its balance is checked once in Python, where the ledger makes the entry
    (`services.ledger.domain.journal.Entry`, which refuses an unbalanced posting as `unbalanced_entry`), and
    again by the database (`ledger.lines_valid`). `tests/unit/test_streams_domain.py` holds every builder
    to that check."""
    return Posting(posting_key, kind, subject, caused_by, at, lines, reverses)


def _lines(debits: list[tuple[str, int]], credits: list[tuple[str, int]], currency: str) -> tuple[Line, ...]:
    """Drop zero amounts (a line is never zero); debits equal credits by construction."""
    return tuple(
        [Line(account, currency, amount, 0) for account, amount in debits if amount]
        + [Line(account, currency, 0, amount) for account, amount in credits if amount]
    )


def _transfer(
    key: str,
    kind: str,
    subject: str,
    caused_by: UUID,
    at: datetime,
    debit: str,
    credit: str,
    amount: int,
    currency: str,
) -> Posting | None:
    """One amount from one account to another; nothing to post for an amount of 0."""
    lines = _lines([(debit, amount)], [(credit, amount)], currency)
    return _posting(key, kind, subject, caused_by, at, lines) if len(lines) >= 2 else None


def sale_item(
    sale_id: str,
    store_id: str,
    serial: str,
    contract: str,
    deposit: int,
    fee: int,
    currency: str,
    caused_by: UUID,
    at: datetime,
    suspense: bool,
) -> Posting | None:
    store = accounts.store_clearing(store_id)
    if suspense:
        kind, key = "sale_suspense", f"suspense:{sale_id}:{serial}"
        credits = [(accounts.store_suspense(store_id), deposit + fee)]
    elif contract == "lease":
        kind, key = "sale_lease", f"sale:{sale_id}:{serial}"
        credits = [(FUND, fee)]
    else:
        kind, key = "sale", f"sale:{sale_id}:{serial}"
        credits = [(LIABILITY, deposit), (FUND, fee)]
    lines = _lines([(store, deposit + fee)], credits, currency)
    if len(lines) < 2:
        return None  # nothing charged: nothing to post
    return _posting(key, kind, serial, caused_by, at, lines)


def cancellation(original: Posting, caused_by: UUID, at: datetime, sale_id: str) -> Posting:
    """The exact reverse of the item's sale posting."""
    reversed_lines = tuple(line.reversed() for line in original.lines)
    return _posting(
        f"cancel:{sale_id}:{original.subject}",
        "cancellation",
        original.subject,
        caused_by,
        at,
        reversed_lines,
        reverses=original.posting_key,
    )


def refund(
    serial: str,
    centre_id: str,
    amount: int,
    currency: str,
    caused_by: UUID,
    at: datetime,
    from_reserve: bool = False,
) -> Posting | None:
    """The deposit back to the centre that paid it out: from the liability, or the reserve once released."""
    source = RESERVE if from_reserve else LIABILITY
    centre = accounts.centre_clearing(centre_id)
    return _transfer(f"refund:{serial}", "refund", serial, caused_by, at, source, centre, amount, currency)


def recovery(
    lot_id: str, recycler_id: str, cost: int, currency: str, caused_by: UUID, at: datetime
) -> Posting | None:
    payable = accounts.recycler_payable(recycler_id)
    return _transfer(f"recovery:{lot_id}", "recovery", lot_id, caused_by, at, FUND, payable, cost, currency)


def payment(
    payment_id: str,
    kind: str,
    counterparty_id: str,
    amount: int,
    currency: str,
    caused_by: UUID,
    at: datetime,
) -> Posting | None:
    """Contract 8.1: a store's payment debits the bank and credits its clearing; a payment to a centre or the
    recycler debits their account and credits the bank. Posted in full, an overpayment too."""
    account = account_of(kind, counterparty_id)
    debit, credit = (BANK, account) if kind == "store" else (account, BANK)
    return _transfer(
        f"payment:{payment_id}", f"payment_{kind}", payment_id, caused_by, at, debit, credit, amount, currency
    )


def deposits_released(
    release_id: str, amount: int, currency: str, caused_by: UUID, at: datetime, part: int = 1
) -> Posting | None:
    """Contract 8.1: unclaimed deposits from the liability to the reserve, one entry per release, or per part
    of it when its deposits together exceed one line's bound (`streams.domain.release.ReleaseParts`).

    The batteries it moved are listed in `scheme.released_deposits` under its release id and part.
    """
    return _transfer(
        release_key(release_id, part),
        "deposit_release",
        release_id,
        caused_by,
        at,
        LIABILITY,
        RESERVE,
        amount,
        currency,
    )


def release_key(release_id: str, part: int = 1) -> str:
    """`release:<id>` for its first entry, `release:<id>#<n>` for part n: no release id holds a `#`, so no key
    of one release's part is another release's."""
    assert part >= 1, "parts count from 1"
    return f"release:{release_id}" if part == 1 else f"release:{release_id}#{part}"


def release_cancelled(
    sale_id: str, serial: str, amount: int, currency: str, caused_by: UUID, at: datetime
) -> Posting | None:
    """A released battery's sale cancelled: its deposit back from the reserve to the liability, which the
    cancellation (the exact reverse of the sale) then takes off."""
    return _transfer(
        f"unrelease:{sale_id}:{serial}",
        "release_cancelled",
        serial,
        caused_by,
        at,
        RESERVE,
        LIABILITY,
        amount,
        currency,
    )


def suspense_returned(
    discrepancy_id: UUID,
    serial: str,
    store_id: str,
    amount: int,
    currency: str,
    caused_by: UUID,
    at: datetime,
) -> Posting | None:
    """Contract 8.1: a held item's money leaves the store's suspense, back to its clearing account."""
    suspense, clearing = accounts.store_suspense(store_id), accounts.store_clearing(store_id)
    return _transfer(
        suspense_return_key(discrepancy_id),
        "suspense_return",
        serial,
        caused_by,
        at,
        suspense,
        clearing,
        amount,
        currency,
    )


def suspense_return_key(discrepancy_id: UUID) -> str:
    return f"suspense_return:{discrepancy_id}"


def handling_fee(
    collection_event: UUID, serial: str, centre_id: str, fee: int, currency: str, at: datetime
) -> Posting | None:
    """Contract 8.1: the centre's handling fee for a collection, paid from the recycling fund."""
    centre = accounts.centre_clearing(centre_id)
    return _transfer(
        f"handling_fee:{collection_event}",
        "handling_fee",
        serial,
        collection_event,
        at,
        FUND,
        centre,
        fee,
        currency,
    )
