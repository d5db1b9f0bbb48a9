"""Ids of the scheme's events out: derived from what caused them, so a retry of one effect keeps its id."""

from __future__ import annotations

import hashlib
import uuid

NAMESPACE = uuid.UUID("0b4f3e64-8d6c-4f0e-9a55-3f5e0c1d2b7a")
_NAMESPACE_BYTES = NAMESPACE.bytes


# The RFC 4122 variant in the first hex digit of the fourth group: 10xx in binary.
_VARIANT_OF_HEX = {digit: "89ab"[int(digit, 16) & 0x3] for digit in "0123456789abcdef"}


def stable_id(*parts: object) -> str:
    """uuid5(NAMESPACE, "a:b:c") as text, without building UUID objects on the hot path."""
    h = hashlib.sha1(_NAMESPACE_BYTES + ":".join(map(str, parts)).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_OF_HEX[h[16]]}{h[17:20]}-{h[20:32]}"
