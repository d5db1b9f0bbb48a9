"""API keys: `tbk_<key_id>_<secret>`, stored as HMAC-SHA256(salt, key_id:secret), never in plain text.

The secret is 256 random bits, so a fast keyed hash is enough (a slow KDF guards
low-entropy passwords, which these are not). The random 16-byte salt per key is the
MAC key, so a copied table gives no precomputation across keys; the key_id inside
the MAC binds each hash to its own row. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from contracts.topics import SOURCE_KINDS
from services.gateway.domain.errors import InvalidKeyRequest, Unauthenticated

Role = Literal["producer", "finance"]
ROLES: tuple[Role, ...] = ("producer", "finance")
KEY_PREFIX = "tbk_"
KEY_ID_HEX_LENGTH = 16
SECRET_BYTES = 32
SALT_BYTES = 16
HASH_SCHEME = "hmac-sha256-v1"
PRESENTED_KEY_LENGTH_MAX = 128
_PRESENTED = re.compile(rf"{KEY_PREFIX}([0-9a-f]{{{KEY_ID_HEX_LENGTH}}})_([A-Za-z0-9_-]{{43}})")
_SOURCE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True)
class KeyHolder:
    """Who a verified key speaks for: one source and one role."""

    key_id: str
    source_kind: str
    source_id: str
    role: Role


@dataclass(frozen=True)
class StoredKey:
    """A key as PostgreSQL keeps it: no plaintext, only its salted MAC."""

    key_id: str
    salt: bytes
    secret_hash: bytes
    source_kind: str
    source_id: str
    role: Role
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, secret_hash(self.salt, self.key_id, secret))

    def holder(self) -> KeyHolder:
        return KeyHolder(self.key_id, self.source_kind, self.source_id, self.role)


def secret_hash(salt: bytes, key_id: str, secret: str) -> bytes:
    assert len(salt) == SALT_BYTES, "salt must be 16 bytes"
    return hmac.new(salt, f"{key_id}:{secret}".encode(), hashlib.sha256).digest()


def default_role(source_kind: str) -> Role:
    return "finance" if source_kind == "finance" else "producer"


def issue_key(source_kind: str, source_id: str, role: Role) -> tuple[str, StoredKey]:
    """A fresh key: the plaintext (shown once) and what to store."""
    if source_kind not in SOURCE_KINDS:
        raise InvalidKeyRequest(f"kind must be one of {', '.join(SOURCE_KINDS)} (got {source_kind!r})")
    if not _SOURCE_ID.fullmatch(source_id):
        raise InvalidKeyRequest(f"id must be 1 to 64 characters of A-Z a-z 0-9 . _ : - (got {source_id!r})")
    if role not in ROLES:
        raise InvalidKeyRequest(f"role must be one of {', '.join(ROLES)} (got {role!r})")
    if role == "finance" and source_kind != "finance":
        raise InvalidKeyRequest("a finance role key must have kind finance")
    key_id = secrets.token_hex(KEY_ID_HEX_LENGTH // 2)
    secret, salt = secrets.token_urlsafe(SECRET_BYTES), secrets.token_bytes(SALT_BYTES)
    stored = StoredKey(key_id, salt, secret_hash(salt, key_id, secret), source_kind, source_id, role)
    return f"{KEY_PREFIX}{key_id}_{secret}", stored


def parse_presented(presented: str) -> tuple[str, str]:
    """(key_id, secret) of a presented key, or `malformed_key`."""
    if len(presented) > PRESENTED_KEY_LENGTH_MAX or not (match := _PRESENTED.fullmatch(presented)):
        raise Unauthenticated("malformed_key", f"an API key looks like {KEY_PREFIX}<16 hex>_<43 characters>")
    return match.group(1), match.group(2)
