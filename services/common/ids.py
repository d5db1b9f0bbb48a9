"""Ids of the scheme's events out: derived from what caused them, so a retry of one effect keeps its id."""
from __future__ import annotations

import hashlib
import uuid

NAMESPACE = uuid.UUID("0b4f3e64-8d6c-4f0e-9a55-3f5e0c1d2b7a")
_NAMESPACE_BYTES = NAMESPACE.bytes


def stable_id(*parts: object) -> str:
    """uuid5(NAMESPACE, "a:b:c") as text, without building UUID objects on the hot path."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + ":".join(map(str, parts)).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
