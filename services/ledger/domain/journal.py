"""Journal entries: double-entry postings that balance per currency, built from the scheme's requests."""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import orjson
from pydantic import ValidationError

from contracts.postings import (
    POSTING_NAMESPACE, POSTINGS_PER_MESSAGE_MAX, PostingBatch, PostingRequested, entry_id_for,
)
from contracts.types import ACCOUNT_LENGTH_MAX, MONEY_MINOR_UNITS_MAX
from services.ledger.domain.errors import KeyMismatch, MalformedPosting, PostingRefused, UnbalancedEntry

POSTING_VALUE_BYTES_MAX = 64 * 1024  # a posting has at most 16 lines: anything bigger is not one
BATCH_VALUE_BYTES_MAX = POSTING_VALUE_BYTES_MAX * POSTINGS_PER_MESSAGE_MAX // 8
BATCH_PREFIX = b'{"postings"'  # how a `PostingBatch` begins, as the scheme writes it
_ESCAPED_BY_STANDARD = re.compile(rb"[^\x20-\x7e]|\\")
ACCOUNT_PATTERN = re.compile(rf"[A-Za-z0-9._:-]{{1,{ACCOUNT_LENGTH_MAX}}}")  # contract section 5 names


@dataclass(frozen=True)
class Line:
    account: str
    currency: str
    debit: int
    credit: int


@dataclass(frozen=True)
class Entry:
    """One journal entry; it cannot exist unbalanced."""

    entry_id: uuid.UUID
    posting_key: str
    kind: str
    subject: str
    caused_by: uuid.UUID
    reverses: uuid.UUID | None
    effective_at: datetime
    lines: tuple[Line, ...]
    content_hash: bytes

    def __post_init__(self) -> None:
        for line in self.lines:
            _check_line(line, self.posting_key)
        unbalanced = sorted(currency for currency, net in self.net_per_currency().items() if net != 0)
        if unbalanced:
            raise UnbalancedEntry(f"debits differ from credits in {', '.join(unbalanced)}", self.posting_key)
        if len(self.lines) < 2:
            raise UnbalancedEntry("an entry has at least two lines", self.posting_key)

    def net_per_currency(self) -> dict[str, int]:
        net: Counter[str] = Counter()
        for line in self.lines:
            net[line.currency] += line.debit - line.credit
        return dict(net)

    def is_balanced(self) -> bool:
        return all(net == 0 for net in self.net_per_currency().values())

    @cached_property
    def posted_event_id(self) -> uuid.UUID:
        """The `entry.posted` event id: stable for this posting, whoever posts it and how often."""
        return posted_event_id_for(self.posting_key)


def _check_line(line: Line, posting_key: str) -> None:
    if not ACCOUNT_PATTERN.fullmatch(line.account):
        raise MalformedPosting(f"account {line.account!r} is not 1 to 200 of A-Z a-z 0-9 . _ : -", posting_key)
    if not (0 <= line.debit <= MONEY_MINOR_UNITS_MAX and 0 <= line.credit <= MONEY_MINOR_UNITS_MAX):
        raise MalformedPosting(f"an amount of {line.account} is not 0 to 2^63-1 minor units", posting_key)
    if (line.debit == 0) == (line.credit == 0):
        raise MalformedPosting(f"a line of {line.account} is not exactly one of debit and credit", posting_key)


def posted_event_id_for(posting_key: str) -> uuid.UUID:
    return uuid.uuid5(POSTING_NAMESPACE, "entry.posted:" + posting_key)


def entry_from_request(request: PostingRequested) -> Entry:
    return Entry(
        entry_id=entry_id_for(request.posting_key), posting_key=request.posting_key, kind=request.kind,
        subject=request.subject, caused_by=request.caused_by,
        reverses=entry_id_for(request.reverses) if request.reverses else None,
        effective_at=request.effective_at,
        lines=tuple(Line(line.account, line.currency, line.debit, line.credit) for line in request.lines),
        content_hash=content_hash_of(request),
    )


def content_hash_of(request: PostingRequested) -> bytes:
    """SHA-256 of the posting's canonical JSON: sorted keys, no spaces, non-ASCII escaped (stored; never change).

    orjson writes the same bytes as `json.dumps(..., sort_keys=True)` whenever nothing needed escaping
    (only printable ASCII and no backslash in its output: the standard encoder also escapes DEL and
    everything beyond ASCII), four times faster; otherwise the standard encoder decides.
    """
    fields = request.model_dump(mode="json")
    canonical = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    if _ESCAPED_BY_STANDARD.search(canonical):  # an escape, or a byte the standard encoder would escape
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).digest()


def read_posting(key: bytes | None, value: bytes | None) -> Entry:
    """The entry a posting message asks for, or a `PostingRefused` saying why not."""
    if not value:
        raise MalformedPosting("the message has no value")
    if len(value) > POSTING_VALUE_BYTES_MAX:
        raise MalformedPosting(f"the value has {len(value)} bytes, more than {POSTING_VALUE_BYTES_MAX}")
    try:
        request = PostingRequested.model_validate_json(value)
    except ValidationError as error:
        raise MalformedPosting(_first_errors(error)) from None
    message_key = key.decode("utf-8", "replace") if key is not None else None
    if message_key != request.posting_key:
        raise KeyMismatch(f"message key {message_key!r} is not the posting key", request.posting_key)
    return entry_from_request(request)


def read_message(key: bytes | None, value: bytes | None) -> tuple[list[Entry], list[PostingRefused]]:
    """The entries a message asks for (one posting, or a `PostingBatch`), and what in it is refused.

    In a batch, each posting stands alone: a malformed one is refused (named by
    its index) and the others are posted. A batch that is not one at all (not
    JSON, no list of postings) is refused whole.
    """
    if not value or not value[:32].lstrip().startswith(BATCH_PREFIX):  # no copy of a 100 kB value
        try:
            return [read_posting(key, value)], []
        except PostingRefused as refusal:
            return [], [refusal]
    if len(value) > BATCH_VALUE_BYTES_MAX:
        return [], [MalformedPosting(f"the value has {len(value)} bytes, more than {BATCH_VALUE_BYTES_MAX}")]
    try:
        return [entry_from_request(r) for r in PostingBatch.model_validate_json(value).postings], []
    except ValidationError:
        pass  # find which postings are at fault; post the others
    try:
        items = json.loads(value)["postings"]
        assert isinstance(items, list) and 0 < len(items) <= POSTINGS_PER_MESSAGE_MAX
    except (ValueError, KeyError, TypeError, AssertionError):
        return [], [MalformedPosting(f"not a posting batch: postings must be a list of 1 to "
                                     f"{POSTINGS_PER_MESSAGE_MAX} postings")]
    entries, refused = [], []
    for index, item in enumerate(items):
        try:
            entries.append(entry_from_request(PostingRequested.model_validate_json(json.dumps(item))))
        except ValidationError as error:
            refused.append(MalformedPosting(f"postings[{index}]: {_first_errors(error)}"))
    return entries, refused


def movements(entries: list[Entry]) -> dict[tuple[str, str], tuple[int, int]]:
    """Total debit and credit per (account, currency) over the entries: one row each per batch."""
    debits: Counter[tuple[str, str]] = Counter()
    credits: Counter[tuple[str, str]] = Counter()
    for entry in entries:
        for line in entry.lines:
            debits[(line.account, line.currency)] += line.debit
            credits[(line.account, line.currency)] += line.credit
    return {account: (debits[account], credits[account]) for account in set(debits) | set(credits)}


def _first_errors(error: ValidationError, shown_max: int = 3) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or '(posting)'}: {e['msg']}" for e in error.errors()[:shown_max]]
    return "; ".join(parts)
