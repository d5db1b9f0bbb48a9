"""Managing API keys (the `takeback keys` command): create (plaintext shown once), list, revoke."""

from __future__ import annotations

from datetime import UTC, datetime

from services.gateway.domain.keys import Role, StoredKey, default_role, issue_key
from services.gateway.service_layer.ports import KeyRepository


class UnknownKey(LookupError):
    """No key with this id."""


async def create_key(
    repository: KeyRepository, source_kind: str, source_id: str, role: Role | None = None
) -> tuple[str, StoredKey]:
    """(plaintext key, stored record). The plaintext exists only in the return value."""
    plaintext, stored = issue_key(source_kind, source_id, role or default_role(source_kind))
    await repository.add(stored)
    return plaintext, await _must_get(repository, stored.key_id)


async def list_keys(repository: KeyRepository) -> list[StoredKey]:
    return await repository.list()


async def revoke_key(repository: KeyRepository, key_id: str) -> StoredKey:
    revoked = await repository.revoke(key_id, datetime.now(UTC))
    if revoked is None:
        raise UnknownKey(f"no API key with id {key_id!r}")
    assert revoked.revoked_at is not None, "a revoked key has a revocation time"
    return revoked


def describe(key: StoredKey) -> dict:
    """What may be shown of a key: never its salt or hash."""
    return {
        "key_id": key.key_id,
        "kind": key.source_kind,
        "id": key.source_id,
        "role": key.role,
        "created_at": key.created_at.isoformat() if key.created_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


async def _must_get(repository: KeyRepository, key_id: str) -> StoredKey:
    stored = await repository.get(key_id)
    assert stored is not None, "a key just added is found again"
    return stored
