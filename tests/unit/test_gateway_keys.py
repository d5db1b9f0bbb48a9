"""API keys: issued once in plain text, stored as a salted MAC, verified in constant time, cached briefly."""

from __future__ import annotations

import asyncio

import pytest

from services.gateway.adapters.key_repository import InMemoryKeyRepository
from services.gateway.domain.errors import InvalidKeyRequest, Unauthenticated
from services.gateway.domain.keys import KEY_PREFIX, issue_key, parse_presented, secret_hash
from services.gateway.service_layer.authentication import KeyVerifier
from services.gateway.service_layer.keys import UnknownKey, create_key, describe, revoke_key


def test_a_key_is_stored_without_its_secret():
    plaintext, stored = issue_key("pos", "store-042", "producer")
    key_id, secret = parse_presented(plaintext)
    assert plaintext.startswith(KEY_PREFIX) and key_id == stored.key_id
    assert secret.encode() not in stored.secret_hash + stored.salt
    assert stored.matches(secret) and not stored.matches(secret[:-1] + ("A" if secret[-1] != "A" else "B"))


def test_the_same_secret_hashes_differently_under_another_salt_or_key_id():
    assert secret_hash(b"\x01" * 16, "a" * 16, "s") != secret_hash(b"\x02" * 16, "a" * 16, "s")
    assert secret_hash(b"\x01" * 16, "a" * 16, "s") != secret_hash(b"\x01" * 16, "b" * 16, "s")


@pytest.mark.parametrize(
    "kind, source_id, role",
    [
        ("shop", "store-1", "producer"),
        ("pos", "store 1", "producer"),
        ("pos", "x" * 65, "producer"),
        ("pos", "store-1", "admin"),
        ("pos", "store-1", "finance"),
    ],
)
def test_a_key_that_cannot_be_issued_is_refused(kind, source_id, role):
    with pytest.raises(InvalidKeyRequest):
        issue_key(kind, source_id, role)


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "Bearer x",
        "tbk_short_secret",
        KEY_PREFIX + "g" * 16 + "_" + "a" * 43,
        KEY_PREFIX + "a" * 16 + "_" + "a" * 200,
    ],
)
def test_a_malformed_key_is_refused_before_any_lookup(presented):
    with pytest.raises(Unauthenticated) as refused:
        parse_presented(presented)
    assert refused.value.reason == "malformed_key"


async def verify_reason(verifier: KeyVerifier, presented: str | None) -> str:
    with pytest.raises(Unauthenticated) as refused:
        await verifier.verify(presented)
    return refused.value.reason


async def test_missing_unknown_forged_and_revoked_keys_are_refused_with_their_reason():
    repository = InMemoryKeyRepository()
    verifier = KeyVerifier(repository, ttl_s=0)
    plaintext, stored = await create_key(repository, "pos", "store-1")
    revoked, revoked_record = await create_key(repository, "pos", "store-2")
    await revoke_key(repository, revoked_record.key_id)
    assert await verify_reason(verifier, None) == "missing_key"
    assert await verify_reason(verifier, issue_key("pos", "store-1", "producer")[0]) == "unknown_key"
    assert await verify_reason(verifier, plaintext[:-43] + "Q" * 43) == "unknown_key"
    assert await verify_reason(verifier, revoked) == "revoked_key"
    assert (await verifier.verify(plaintext)).source_id == "store-1"


async def test_a_verified_key_is_cached_for_the_ttl_only():
    repository, now = InMemoryKeyRepository(), [0.0]
    verifier = KeyVerifier(repository, ttl_s=2.0, clock=lambda: now[0])
    plaintext, stored = await create_key(repository, "finance", "finance-1")
    lookups = repository.lookups
    await verifier.verify(plaintext)
    await verifier.verify(plaintext)
    assert repository.lookups == lookups + 1
    await revoke_key(repository, stored.key_id)
    now[0] = 2.5
    assert await verify_reason(verifier, plaintext) == "revoked_key"


async def test_the_cache_is_bounded():
    repository = InMemoryKeyRepository()
    verifier = KeyVerifier(repository, entries_max=3)
    for number in range(10):
        await verifier.verify((await create_key(repository, "pos", f"store-{number}"))[0])
    assert len(verifier._verified) == 3


async def test_finance_is_the_default_role_of_finance_keys_and_nothing_secret_is_described():
    repository = InMemoryKeyRepository()
    _, finance = await create_key(repository, "finance", "finance-1")
    _, store = await create_key(repository, "pos", "store-1")
    assert (finance.role, store.role) == ("finance", "producer")
    assert set(describe(finance)) == {"key_id", "kind", "id", "role", "created_at", "revoked_at"}
    with pytest.raises(UnknownKey):
        await revoke_key(repository, "0" * 16)


async def test_requests_presenting_a_key_while_it_is_looked_up_share_one_lookup_and_each_checks_its_secret():
    repository = InMemoryKeyRepository()
    verifier = KeyVerifier(repository)
    plaintext, stored = await create_key(repository, "pos", "store-1")
    forged = plaintext[:-43] + "Q" * 43  # the same key id, another secret
    lookups = repository.lookups
    answers = await asyncio.gather(
        *[verifier.verify(plaintext) for _ in range(20)], verifier.verify(forged), return_exceptions=True
    )
    assert repository.lookups == lookups + 1
    assert {answer.source_id for answer in answers[:20]} == {"store-1"}
    assert isinstance(answers[20], Unauthenticated) and answers[20].reason == "unknown_key"
    assert await verify_reason(verifier, forged) == "unknown_key"  # a failure is never cached as a success


async def test_a_failed_lookup_is_not_remembered():
    class Away(InMemoryKeyRepository):
        failing = False

        async def get(self, key_id):
            if self.failing:
                raise ConnectionError("the database is away")
            return await super().get(key_id)

    repository = Away()
    verifier = KeyVerifier(repository)
    plaintext, _ = await create_key(repository, "pos", "store-1")
    repository.failing = True
    with pytest.raises(ConnectionError):
        await verifier.verify(plaintext)
    repository.failing = False
    assert (await verifier.verify(plaintext)).source_id == "store-1"


async def test_keys_in_use_are_read_again_together_and_a_revoked_one_is_dropped_at_that_reading():
    repository, now = InMemoryKeyRepository(), [0.0]
    verifier = KeyVerifier(repository, ttl_s=2.0, clock=lambda: now[0])
    used, used_record = await create_key(repository, "pos", "store-1")
    revoked, revoked_record = await create_key(repository, "pos", "store-2")
    idle, _ = await create_key(repository, "pos", "store-3")
    for key in (used, revoked, idle):
        await verifier.verify(key)
    lookups = repository.lookups
    for second in range(1, 11):  # ten seconds of requests with two of the keys, a reading every second
        now[0] = float(second)
        await verifier.verify(used)
        if second <= 5:
            await verifier.verify(revoked)
        if second == 5:
            await revoke_key(repository, revoked_record.key_id)
        await verifier.refresh()
        if second == 5:
            assert await verify_reason(verifier, revoked) == "revoked_key"  # dropped by that reading
    assert repository.lookups == lookups + 1  # the revoked key's lookup after it was dropped; none else
    assert repository.readings == 10  # one query a reading, for every key in use
    assert (await verifier.verify(used)).source_id == "store-1"
    assert repository.lookups == lookups + 1
    await verifier.verify(idle)  # not used for ten seconds: not read again, so expired
    assert repository.lookups == lookups + 2


async def test_an_entry_never_outlives_its_lifetime_from_the_last_reading_that_found_it_valid():
    repository, now = InMemoryKeyRepository(), [0.0]
    verifier = KeyVerifier(repository, ttl_s=2.0, clock=lambda: now[0])
    plaintext, stored = await create_key(repository, "pos", "store-1")
    await verifier.verify(plaintext)
    await verifier.verify(plaintext)
    now[0] = 1.0
    await verifier.refresh()  # valid at 1.0: lives until 3.0
    await revoke_key(repository, stored.key_id)
    now[0] = 2.9
    assert (await verifier.verify(plaintext)).source_id == "store-1"  # within its lifetime
    now[0] = 3.0
    assert await verify_reason(verifier, plaintext) == "revoked_key"


async def test_a_reading_that_fails_leaves_entries_to_expire():
    class Away(InMemoryKeyRepository):
        async def get_many(self, key_ids):
            raise ConnectionError("the database is away")

    repository, now = Away(), [0.0]
    verifier = KeyVerifier(repository, ttl_s=2.0, clock=lambda: now[0])
    plaintext, stored = await create_key(repository, "pos", "store-1")
    await verifier.verify(plaintext)
    await verifier.verify(plaintext)
    with pytest.raises(ConnectionError):
        await verifier.refresh()
    await revoke_key(repository, stored.key_id)
    now[0] = 2.0
    assert await verify_reason(verifier, plaintext) == "revoked_key"
