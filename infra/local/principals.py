"""Who may do what on Kafka: one principal per service and per source, each with only its ACLs.

- the operator (`admin`): a super user, for `takeback up` and the command line's tools;
- `svc-streams`, `svc-ledger`, `svc-gateway`: the topics and groups each service uses;
- `<kind>.<source id>` (made by `takeback kafka-credentials create`): write only the topics its kind
  sends (contract section 1) and, with its signing key, only as that source.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from secrets import token_urlsafe

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, SaslAuthenticationFailed

from contracts import topics
from contracts.types import IDENTIFIER_PATTERN as IDENTIFIER
from infra.local.kafka_admin import (
    CLUSTER,
    CLUSTER_NAME,
    DESCRIBE,
    GROUP,
    IDEMPOTENT_WRITE,
    PREFIXED,
    READ,
    TOPIC,
    WRITE,
    Acl,
    KafkaAdminError,
    create_acls,
    upsert_users,
)
from infra.local.secrets import SECRET_BYTES
from services.common.kafka import MECHANISM, SIGNATURE_HEADER
from services.common.kafka_offsets import LEDGER_GROUP

LOGINS_WITHIN_S = 30.0  # a new SCRAM credential reaches every broker well within this
LOGIN_RETRY_S = 0.2
SERVICE_PRINCIPALS = {"streams": "svc-streams", "ledger": "svc-ledger", "gateway": "svc-gateway"}
TOPIC_PREFIX = "takeback."
GROUP_PREFIX = "takeback-"


def source_principal(kind: str, source_id: str) -> str:
    return f"{kind}.{source_id}"


def topics_of_kind(kind: str) -> list[str]:
    """The input topics a source kind writes: those of the event types it may send."""
    return sorted(
        {
            topics.TOPIC_OF_TYPE[t]
            for t, kinds in topics.SOURCE_KINDS_OF_TYPE.items()
            if kind in kinds and topics.TOPIC_OF_TYPE[t] in topics.INPUT_TOPICS
        }
    )


def _reads(principal: str, names) -> list[Acl]:
    return [Acl(principal, TOPIC, name, READ) for name in names]


def _writes(principal: str, names) -> list[Acl]:
    return [Acl(principal, TOPIC, name, WRITE) for name in names] + [
        Acl(principal, CLUSTER, CLUSTER_NAME, IDEMPOTENT_WRITE)
    ]


def _describes(principal: str) -> list[Acl]:
    """Every project topic's metadata and offsets, and every project group's offsets (lag, health)."""
    return [
        Acl(principal, TOPIC, TOPIC_PREFIX, DESCRIBE, PREFIXED),
        Acl(principal, GROUP, GROUP_PREFIX, DESCRIBE, PREFIXED),
    ]


def service_acls(streams_group: str) -> list[Acl]:
    streams, ledger, gateway = (SERVICE_PRINCIPALS[s] for s in ("streams", "ledger", "gateway"))
    scheme_out = (topics.REFUNDS, topics.REJECTIONS, topics.DISCREPANCIES, topics.ROUTING, topics.POSTINGS)
    ledger_out = (topics.LEDGER, topics.RECONCILIATIONS)
    return [
        # streams: reads every topic in, in its group; relays the scheme's outbox (and reads it back
        # at takeover)
        *_reads(streams, topics.INPUT_TOPICS),
        Acl(streams, GROUP, streams_group, READ),
        *_writes(streams, scheme_out),
        *_reads(streams, scheme_out),
        *_describes(streams),
        # ledger: reads the postings in its group; relays its outbox; reconciliation reads the topics in back
        *_reads(ledger, (topics.POSTINGS, *topics.INPUT_TOPICS)),
        Acl(ledger, GROUP, LEDGER_GROUP, READ),
        *_writes(ledger, ledger_out),
        *_reads(ledger, ledger_out),
        *_describes(ledger),
        # gateway: writes the topics in for the sources it authenticated; reconciles on request
        *_writes(gateway, topics.INPUT_TOPICS),
        *_reads(gateway, topics.INPUT_TOPICS),
        *_describes(gateway),
    ]


def source_acls(kind: str, source_id: str) -> list[Acl]:
    principal = source_principal(kind, source_id)
    names = topics_of_kind(kind)
    return [*_writes(principal, names), *(Acl(principal, TOPIC, name, DESCRIBE) for name in names)]


async def ensure_principals(
    bootstrap: str,
    options: dict,
    streams_group: str,
    passwords: dict[str, str],
    owner_url: str,
    signing_secrets: dict[str, str],
) -> None:
    """Each principal in `passwords` (user -> password) with the services' ACLs, and the signers' keys
    (`gateway`, `operator` -> secret) in the database. Harmless to run again. Used by `takeback up` (secrets
    from its folder) and by the compose init (secrets from the environment)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000, **options)
    try:
        await admin.start()
        await upsert_users(admin, passwords)
        await create_acls(admin, service_acls(streams_group))
    finally:
        await admin.close()
    await wait_until_logins(bootstrap, options, passwords)
    owner = await asyncpg.connect(owner_url)
    try:
        for signer, secret in signing_secrets.items():
            await owner.execute(
                "INSERT INTO scheme.signing_keys (signer_kind, signer_id, secret) VALUES ('signer', $1, $2) "
                "ON CONFLICT (signer_kind, signer_id) DO UPDATE SET secret = EXCLUDED.secret, "
                "revoked_at = NULL",
                signer,
                secret,
            )
    finally:
        await owner.close()


async def logs_in(server: str, options: dict, user: str, password: str) -> bool:
    """Whether `user` logs in on the one broker `server` (host:port) with `password`: True, or False if the
    broker refuses the credential; a broker that does not answer raises (OSError, KafkaError)."""
    host, _, port = server.strip().rpartition(":")
    login = {
        key: options[key] for key in ("security_protocol", "sasl_mechanism", "ssl_context") if key in options
    }
    try:
        connection = await create_conn(
            host,
            int(port),
            request_timeout_ms=5_000,
            sasl_plain_username=user,
            sasl_plain_password=password,
            **login,
        )
    except SaslAuthenticationFailed:
        return False
    connection.close()
    return True


async def wait_until_logins(
    bootstrap: str,
    options: dict,
    passwords: dict[str, str],
    within_s: float = LOGINS_WITHIN_S,
    refused: bool = False,
) -> None:
    """Once each user in `passwords` logs in (or, with `refused`, is refused) on every broker of `bootstrap`.
    The controller acknowledges a change of SCRAM credentials before the brokers have applied it: a service
    started at once was refused (`takeback up` failed with "streams exited at start", SaslAuthenticationFailed
    in its log), and a revoked login still worked for a moment. KafkaAdminError if it is still not so after
    `within_s`."""
    deadline = time.monotonic() + within_s
    for server in bootstrap.split(","):
        for user, password in passwords.items():
            while True:
                try:
                    if await logs_in(server, options, user, password) is not refused:
                        break
                    outcome = "is still accepted" if refused else "is refused"
                except (OSError, KafkaError) as error:
                    outcome = f"cannot be tried ({error!r})"
                if time.monotonic() >= deadline:
                    raise KafkaAdminError(f"{user} {outcome} on {server} after {within_s:.0f} s")
                await asyncio.sleep(LOGIN_RETRY_S)


@dataclass(frozen=True)
class SourceCredential:
    """What a source needs to write to Kafka: its SCRAM principal and the key it signs its events with."""

    kind: str
    source_id: str
    username: str
    password: str
    signing_secret: str
    topics: list[str]

    def shown(self) -> dict:
        return {
            "kind": self.kind,
            "id": self.source_id,
            "username": self.username,
            "password": self.password,
            "mechanism": MECHANISM,
            "signing_secret": self.signing_secret,
            "signature_header": SIGNATURE_HEADER,
            "topics": self.topics,
        }


class InvalidSource(ValueError):
    pass


def check_source(kind: str, source_id: str) -> None:
    if kind not in topics.SOURCE_KINDS:
        raise InvalidSource(f"--kind: must be one of {', '.join(topics.SOURCE_KINDS)} (got {kind!r})")
    if not IDENTIFIER.fullmatch(source_id):
        raise InvalidSource(f"--id: must be 1 to 64 characters of A-Z a-z 0-9 . _ : - (got {source_id!r})")


async def create_source_credential(
    admin: AIOKafkaAdminClient,
    owner: asyncpg.Connection,
    kind: str,
    source_id: str,
    *,
    bootstrap: str,
    options: dict,
) -> SourceCredential:
    """A new (or replaced) principal and signing key for one source; a replaced one stops working at once.
    Returns once the new principal logs in on every broker of `bootstrap` (`options`: the operator's client
    options), so a source that connects the moment it has its credential is not refused."""
    check_source(kind, source_id)
    credential = SourceCredential(
        kind,
        source_id,
        source_principal(kind, source_id),
        token_urlsafe(SECRET_BYTES),
        token_urlsafe(SECRET_BYTES),
        topics_of_kind(kind),
    )
    await upsert_users(admin, {credential.username: credential.password})
    await create_acls(admin, source_acls(kind, source_id))
    await owner.execute(
        "INSERT INTO scheme.signing_keys (signer_kind, signer_id, secret) VALUES ($1, $2, $3) "
        "ON CONFLICT (signer_kind, signer_id) DO UPDATE SET secret = EXCLUDED.secret, created_at = now(), "
        "revoked_at = NULL",
        kind,
        source_id,
        credential.signing_secret,
    )
    await wait_until_logins(bootstrap, options, {credential.username: credential.password})
    return credential


async def revoke_source_credential(
    admin: AIOKafkaAdminClient,
    owner: asyncpg.Connection,
    kind: str,
    source_id: str,
    *,
    bootstrap: str,
    options: dict,
) -> bool:
    """The principal can no longer log in on any broker of `bootstrap` when this returns, and its key no
    longer signs; False if there was none."""
    check_source(kind, source_id)
    principal = source_principal(kind, source_id)
    # The old password is not kept, so whether a broker still takes it cannot be asked. Replace it with a
    # throwaway one first: once that logs in on every broker, the old one is refused there; once it is
    # refused too, the principal is gone there.
    throwaway = {principal: token_urlsafe(SECRET_BYTES)}
    await upsert_users(admin, throwaway)
    await wait_until_logins(bootstrap, options, throwaway)
    await upsert_users(admin, {}, delete=[principal])
    await wait_until_logins(bootstrap, options, throwaway, refused=True)
    revoked = await owner.fetchval(
        "UPDATE scheme.signing_keys SET revoked_at = now() WHERE signer_kind = $1 AND signer_id = $2 "
        "AND revoked_at IS NULL RETURNING signer_id",
        kind,
        source_id,
    )
    return revoked is not None


async def list_source_credentials(owner: asyncpg.Connection) -> list[dict]:
    rows = await owner.fetch(
        "SELECT signer_kind AS kind, signer_id AS id, created_at, revoked_at FROM scheme.signing_keys "
        "WHERE signer_kind <> 'signer' ORDER BY signer_kind, signer_id"
    )
    return [
        {
            "kind": r["kind"],
            "id": r["id"],
            "username": source_principal(r["kind"], r["id"]),
            "created_at": r["created_at"].isoformat(),
            "revoked_at": r["revoked_at"].isoformat() if r["revoked_at"] else None,
        }
        for r in rows
    ]
