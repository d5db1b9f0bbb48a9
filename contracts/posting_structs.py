"""The postings' wire schema as native structs: one decoding pass for the ledger's valid path.

They mirror `contracts.postings` (`PostingBatch`, `PostingRequested`, `PostingLine`)
field by field, strict as the models are (no coercion, no unknown field): the
posting key, kind and subject by the same bounds and literals, `caused_by` a
UUID (the spellings msgspec reads are a subset of those pydantic reads, and
both give the canonical form), `effective_at` an RFC 3339 text whose canonical
form `canonical_timestamp` gives. A line's amounts are bounded as the model
bounds them (0 to MONEY_MINOR_UNITS_MAX, a bigint); the other rules of the lines
(account names, one side, balance per currency, 2 to 16 lines) are checked once,
when the ledger's `Entry` is made of them, not here.

This path only ever accepts: a message it does not accept is read by the
models, which name the field and the rule. To stay a strict subset of what the
models accept, it leaves to them every message that is not printable ASCII or
holds an escape (`\\`), and every timestamp it cannot put in canonical form.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Literal

import msgspec

from contracts.postings import POSTINGS_PER_MESSAGE_MAX
from contracts.types import MONEY_MINOR_UNITS_MAX

Kind = Literal[
    "sale",
    "sale_lease",
    "sale_suspense",
    "cancellation",
    "refund",
    "recovery",
    "payment_store",
    "payment_centre",
    "payment_recycler",
    "handling_fee",
    "deposit_release",
    "release_cancelled",
    "suspense_return",
]

# "2026-12-01T11:00:00.123+00:00": date and time, at most 6 digits of fraction, an offset.
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:\d\d)\Z")
_UTC = ("Z", "+00:00", "-00:00")


LineAmount = Annotated[int, msgspec.Meta(ge=0, le=MONEY_MINOR_UNITS_MAX)]


class LineWire(msgspec.Struct, forbid_unknown_fields=True):
    account: str
    currency: str
    debit: LineAmount
    credit: LineAmount


class PostingWire(msgspec.Struct, forbid_unknown_fields=True):
    posting_key: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    kind: Kind
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    caused_by: uuid.UUID
    effective_at: str
    lines: list[LineWire]
    reverses: str | None = None


class PostingBatchWire(msgspec.Struct, forbid_unknown_fields=True):
    postings: Annotated[list[PostingWire], msgspec.Meta(min_length=1, max_length=POSTINGS_PER_MESSAGE_MAX)]


def canonical_timestamp(text: str) -> str | None:
    """The form `PostingRequested.model_dump(mode="json")` gives the timestamp (six digits of fraction
    unless zero, `Z` for UTC), or None for a text this path leaves to the model."""
    match = _RFC3339.match(text)
    if match is None:
        return None
    when, fraction, offset = match.groups()
    fraction = (fraction or "").ljust(6, "0")
    return f"{when}{'' if fraction == '000000' else '.' + fraction}{'Z' if offset in _UTC else offset}"


BATCH_DECODER = msgspec.json.Decoder(PostingBatchWire)
POSTING_DECODER = msgspec.json.Decoder(PostingWire)
# Sorted keys, no spaces: for printable ASCII without escapes, the bytes of `json.dumps(..., sort_keys=True,
# separators=(",", ":"))` of the model's JSON dump (the content hash's canonical form).
CANONICAL_ENCODER = msgspec.json.Encoder(order="sorted")
