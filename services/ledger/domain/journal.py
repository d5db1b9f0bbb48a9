"""Journal entries: double-entry postings that balance per currency, built from the scheme's requests."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import msgspec
import orjson
from pydantic import ValidationError

from contracts.posting_structs import (
    BATCH_DECODER,
    CANONICAL_ENCODER,
    POSTING_DECODER,
    PostingBatchWire,
    PostingWire,
    canonical_timestamp,
)
from contracts.postings import (
    POSTING_NAMESPACE,
    POSTINGS_PER_MESSAGE_MAX,
    Line,
    PostingRequested,
)
from contracts.types import ACCOUNT_LENGTH_MAX, MONEY_MINOR_UNITS_MAX
from services.ledger.domain.errors import KeyMismatch, MalformedPosting, PostingRefused, UnbalancedEntry

POSTING_VALUE_BYTES_MAX = 64 * 1024  # a posting has at most 16 lines: anything bigger is not one
BATCH_VALUE_BYTES_MAX = POSTING_VALUE_BYTES_MAX * POSTINGS_PER_MESSAGE_MAX // 8
BATCH_PREFIX = b'{"postings"'  # how a `PostingBatch` begins, as the scheme writes it
LINES_MIN, LINES_MAX = 2, 16
_ESCAPED_BY_STANDARD = re.compile(rb"[^\x20-\x7e]|\\")
ACCOUNT_PATTERN = re.compile(rf"[A-Za-z0-9._:-]{{1,{ACCOUNT_LENGTH_MAX}}}")  # contract section 5 names
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
_account_ok, _currency_ok = ACCOUNT_PATTERN.fullmatch, CURRENCY_PATTERN.fullmatch


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal entry, as `ledger.entries` keeps it: its lines as four arrays (line n is the n-th of each).

    It cannot exist invalid or unbalanced: made, it is checked once, in one pass over its lines, by the
    rules the database checks again (revision 0014's `ledger.lines_valid`). The fields are in the column
    order of the journal's COPY (`journal_repository.ENTRY_COLUMNS`; `posted_at` follows them).
    """

    entry_id: uuid.UUID
    posting_key: str
    kind: str
    subject: str
    caused_by: uuid.UUID
    reverses: uuid.UUID | None
    effective_at: datetime
    content_hash: bytes
    accounts: tuple[str, ...]
    currencies: tuple[str, ...]
    debits: tuple[int, ...]
    credits: tuple[int, ...]

    def __post_init__(self) -> None:
        _check_lines(self)

    @classmethod
    def with_lines(
        cls,
        entry_id: uuid.UUID,
        posting_key: str,
        kind: str,
        subject: str,
        caused_by: uuid.UUID,
        reverses: uuid.UUID | None,
        effective_at: datetime,
        lines: tuple[Line, ...],
        content_hash: bytes,
    ) -> Entry:
        return cls(
            entry_id,
            posting_key,
            kind,
            subject,
            caused_by,
            reverses,
            effective_at,
            content_hash,
            tuple(line.account for line in lines),
            tuple(line.currency for line in lines),
            tuple(line.debit for line in lines),
            tuple(line.credit for line in lines),
        )

    @property
    def lines(self) -> tuple[Line, ...]:
        return tuple(map(Line, self.accounts, self.currencies, self.debits, self.credits))

    def net_per_currency(self) -> dict[str, int]:
        net: Counter[str] = Counter()
        for currency, debit, credit in zip(self.currencies, self.debits, self.credits):
            net[currency] += debit - credit
        return dict(net)

    def is_balanced(self) -> bool:
        return all(net == 0 for net in self.net_per_currency().values())

    @property
    def posted_event_id(self) -> uuid.UUID:
        """The `entry.posted` event id: stable for this posting, whoever posts it and how often."""
        return posted_event_id_for(self.posting_key)


def _check_lines(entry: Entry) -> None:
    """Every line valid, debits equal to credits per currency, 2 to 16 lines: the balance computed once.

    The usual entry (one currency) is checked by built-ins over its arrays; any other, or one that fails,
    line by line, which says what is wrong.
    """
    accounts, currencies, debits, credits = entry.accounts, entry.currencies, entry.debits, entry.credits
    count = len(accounts)
    if (
        LINES_MIN <= count <= LINES_MAX
        and len(currencies) == len(debits) == len(credits) == count
        and min(debits) >= 0
        and min(credits) >= 0
        and max(debits) <= MONEY_MINOR_UNITS_MAX
        and max(credits) <= MONEY_MINOR_UNITS_MAX
        and all(map(_one_side, debits, credits))
        and all(map(_account_ok, accounts))
        and currencies.count(currencies[0]) == count
        and _currency_ok(currencies[0])
        and sum(debits) == sum(credits)
    ):
        return
    _check_line_by_line(entry)


def _one_side(debit: int, credit: int) -> bool:
    return (debit == 0) != (credit == 0)


def _check_line_by_line(entry: Entry) -> None:
    key, accounts, currencies, debits, credits = (
        entry.posting_key,
        entry.accounts,
        entry.currencies,
        entry.debits,
        entry.credits,
    )
    count = len(accounts)
    if not len(currencies) == len(debits) == len(credits) == count:
        raise MalformedPosting("the lines' accounts, currencies, debits and credits differ in number", key)
    net: dict[str, int] = {}
    for account, currency, debit, credit in zip(accounts, currencies, debits, credits):
        if not _account_ok(account):
            raise MalformedPosting(f"account {account!r} is not 1 to 200 of A-Z a-z 0-9 . _ : -", key)
        if not (0 <= debit <= MONEY_MINOR_UNITS_MAX and 0 <= credit <= MONEY_MINOR_UNITS_MAX):
            raise MalformedPosting(f"an amount of {account} is not 0 to 2^63-1 minor units", key)
        if (debit == 0) == (credit == 0):
            raise MalformedPosting(f"a line of {account} is not exactly one of debit and credit", key)
        net[currency] = net.get(currency, 0) + debit - credit
    for currency in net:
        if not _currency_ok(currency):
            raise MalformedPosting(f"currency {currency!r} is not three capital letters", key)
    unbalanced = sorted(currency for currency, amount in net.items() if amount != 0)
    if unbalanced:
        raise UnbalancedEntry(f"debits differ from credits in {', '.join(unbalanced)}", key)
    if count < LINES_MIN:
        raise UnbalancedEntry("an entry has at least two lines", key)
    if count > LINES_MAX:
        raise MalformedPosting(f"an entry has at most {LINES_MAX} lines", key)


def posted_event_id_for(posting_key: str) -> uuid.UUID:
    return uuid5(_POSTED_PREFIX, posting_key)


def entry_id_of(posting_key: str) -> uuid.UUID:
    """`contracts.postings.entry_id_for`, twice as fast (the hot path makes one per posting)."""
    return uuid5(_ENTRY_PREFIX, posting_key)


_ENTRY_PREFIX, _POSTED_PREFIX = (
    POSTING_NAMESPACE.bytes + b"entry:",
    POSTING_NAMESPACE.bytes + b"entry.posted:",
)
_VERSION_5 = (0x8000 << 48) | (5 << 76)  # the variant (RFC 4122) and version bits
_KEPT = ~((0xC000 << 48) | (0xF000 << 64))
_new_uuid, _set = object.__new__, object.__setattr__


def uuid5(prefix: bytes, name: str) -> uuid.UUID:
    """`uuid.uuid5(namespace, text + name)` for `prefix` = the namespace's bytes + the text's UTF-8, without
    the checks of `UUID.__init__` (the same value: tests/unit/test_ledger_domain.py)."""
    value = int.from_bytes(hashlib.sha1(prefix + name.encode()).digest()[:16], "big") & _KEPT | _VERSION_5
    made = _new_uuid(uuid.UUID)
    _set(made, "int", value)
    _set(made, "is_safe", uuid.SafeUUID.unknown)
    return made


def entry_from_request(request: PostingRequested) -> Entry:
    lines = request.lines
    return Entry(
        entry_id_of(request.posting_key),
        request.posting_key,
        request.kind,
        request.subject,
        request.caused_by,
        entry_id_of(request.reverses) if request.reverses else None,
        request.effective_at,
        content_hash_of(request),
        tuple(line.account for line in lines),
        tuple(line.currency for line in lines),
        tuple(line.debit for line in lines),
        tuple(line.credit for line in lines),
    )


def entry_from_wire(posting: PostingWire) -> Entry:
    """The entry of a posting the native decoder read (`read_message`'s one pass); a `PostingRefused` or a
    `ValueError` for one it must leave to the contract's model. Its content hash is that of the model's
    canonical JSON: the same bytes, for a message of printable ASCII without escapes (checked before)."""
    effective_at = canonical_timestamp(posting.effective_at)
    if effective_at is None:
        raise ValueError("a timestamp left to the model")
    posting.effective_at = effective_at
    lines = posting.lines
    return Entry(
        entry_id_of(posting.posting_key),
        posting.posting_key,
        posting.kind,
        posting.subject,
        posting.caused_by,
        entry_id_of(posting.reverses) if posting.reverses else None,
        datetime.fromisoformat(effective_at),
        hashlib.sha256(CANONICAL_ENCODER.encode(posting)).digest(),
        tuple([line.account for line in lines]),
        tuple([line.currency for line in lines]),
        tuple([line.debit for line in lines]),
        tuple([line.credit for line in lines]),
    )


def content_hash_of(request: PostingRequested) -> bytes:
    """SHA-256 of the posting's canonical JSON: sorted keys, no spaces, non-ASCII escaped (stored; never
    change).

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
    entries = _read_natively(value, POSTING_DECODER)
    if entries is None:
        try:
            request = PostingRequested.model_validate_json(value)
        except ValidationError as error:
            raise MalformedPosting(_first_errors(error)) from None
        entry = entry_from_request(request)
    else:
        [entry] = entries
    message_key = key.decode("utf-8", "replace") if key is not None else None
    if message_key != entry.posting_key:
        raise KeyMismatch(f"message key {message_key!r} is not the posting key", entry.posting_key)
    return entry


def read_message(key: bytes | None, value: bytes | None) -> tuple[list[Entry], list[PostingRefused]]:
    """The entries a message asks for (one posting, or a `PostingBatch`), and what in it is refused.

    One pass: the native decoder reads the message and each entry is checked once as it is made. Only a
    message that pass does not accept is read again by the contract's models, so that what is refused is
    refused with the field and the rule. In a batch, each posting stands alone: a malformed one is refused
    (named by its index) and the others are posted. A batch that is not one at all (not JSON, no list of
    postings) is refused whole.
    """
    if not value or not value[:32].lstrip().startswith(BATCH_PREFIX):  # no copy of a 100 kB value
        try:
            return [read_posting(key, value)], []
        except PostingRefused as refusal:
            return [], [refusal]
    if len(value) > BATCH_VALUE_BYTES_MAX:
        return [], [MalformedPosting(f"the value has {len(value)} bytes, more than {BATCH_VALUE_BYTES_MAX}")]
    entries = _read_natively(value, BATCH_DECODER)
    if entries is not None:
        return entries, []
    return _read_by_the_models(value)


def _read_natively(
    value: bytes,
    decoder: msgspec.json.Decoder[PostingWire] | msgspec.json.Decoder[PostingBatchWire],
) -> list[Entry] | None:
    """The entries of a message the native pass accepts whole, else None (the models will say why)."""
    if not value.isascii() or b"\\" in value or b"\x7f" in value:  # not plain printable ASCII (a control
        return None  # character, which JSON escapes, fails the decoding): left to the models
    try:
        read = decoder.decode(value)
        if isinstance(read, PostingBatchWire):
            return [entry_from_wire(p) for p in read.postings]
        return [entry_from_wire(read)]
    except (msgspec.ValidationError, msgspec.DecodeError, PostingRefused, ValueError):
        return None


def _read_by_the_models(value: bytes) -> tuple[list[Entry], list[PostingRefused]]:
    """Today's reading by the contract's models, posting by posting: the refusals name the field and the
    rule."""
    try:
        items = json.loads(value)["postings"]
        assert isinstance(items, list) and 0 < len(items) <= POSTINGS_PER_MESSAGE_MAX
    except (ValueError, KeyError, TypeError, AssertionError):
        return [], [
            MalformedPosting(
                f"not a posting batch: postings must be a list of 1 to {POSTINGS_PER_MESSAGE_MAX} postings"
            )
        ]
    entries: list[Entry] = []
    refused: list[PostingRefused] = []
    for index, item in enumerate(items):
        try:
            entries.append(entry_from_request(PostingRequested.model_validate_json(json.dumps(item))))
        except ValidationError as error:
            refused.append(MalformedPosting(f"postings[{index}]: {_first_errors(error)}"))
        except PostingRefused as refusal:  # valid for the model, not for the journal (an account name, say)
            refused.append(type(refusal)(f"postings[{index}]: {refusal.message}", refusal.posting_key))
    return entries, refused


def movements(entries: list[Entry]) -> dict[tuple[str, str], tuple[int, int]]:
    """Total debit and credit per (account, currency) over the entries: one row each per batch."""
    debits: Counter[tuple[str, str]] = Counter()
    credits: Counter[tuple[str, str]] = Counter()
    for entry in entries:
        for account, currency, debit, credit in zip(
            entry.accounts, entry.currencies, entry.debits, entry.credits
        ):
            debits[(account, currency)] += debit
            credits[(account, currency)] += credit
    return {account: (debits[account], credits[account]) for account in set(debits) | set(credits)}


def _first_errors(error: ValidationError, shown_max: int = 3) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or '(posting)'}: {e['msg']}" for e in error.errors()[:shown_max]]
    return "; ".join(parts)
