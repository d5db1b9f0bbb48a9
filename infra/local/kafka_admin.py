"""Kafka principals and ACLs through the broker's own admin API (no JVM tool per call).

aiokafka's admin client has no calls for SCRAM credentials or ACLs in the
versions Kafka 4 speaks, so the two requests are declared here from Kafka's
protocol definitions (AlterUserScramCredentials v0, CreateAcls v3; both
flexible versions) and sent over an admin client's connection.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

SCRAM_SHA_512 = 2  # the mechanism's number in the protocol
SCRAM_ITERATIONS = 8192
SALT_BYTES = 32
TIMEOUT_MS = 15_000

# Resource types, pattern types, operations and permissions of the ACL protocol.
TOPIC, GROUP, CLUSTER = 2, 3, 4
LITERAL, PREFIXED = 3, 4
READ, WRITE, CREATE, DESCRIBE, ALTER, DESCRIBE_CONFIGS, IDEMPOTENT_WRITE = 3, 4, 5, 8, 7, 10, 12
ALLOW = 3
CLUSTER_NAME = "kafka-cluster"


class AlterUserScramCredentialsResponse_v0(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields)),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentials(Request[AlterUserScramCredentialsRequest_v0]):
    API_KEY = 51

    def __init__(self, upsert: dict[str, str], delete: list[str]) -> None:
        self.upsert, self.delete = upsert, delete

    def build(self, request_struct_class):
        upsertions = []
        for name, password in self.upsert.items():
            salt = os.urandom(SALT_BYTES)
            salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, SCRAM_ITERATIONS)
            upsertions.append((name, SCRAM_SHA_512, SCRAM_ITERATIONS, salt, salted, {}))
        return request_struct_class([(name, SCRAM_SHA_512, {}) for name in self.delete], upsertions, {})


class CreateAclsResponse_v3(Response):
    API_KEY = 30
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("error_code", Int16), ("error_message", CompactString("utf-8")), ("tags", TaggedFields)
            ),
        ),
        ("tags", TaggedFields),
    )


class CreateAclsRequest_v3(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 30
    API_VERSION = 3
    RESPONSE_TYPE = CreateAclsResponse_v3
    SCHEMA = Schema(
        (
            "creations",
            CompactArray(
                ("resource_type", Int8),
                ("resource_name", CompactString("utf-8")),
                ("resource_pattern_type", Int8),
                ("principal", CompactString("utf-8")),
                ("host", CompactString("utf-8")),
                ("operation", Int8),
                ("permission_type", Int8),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


@dataclass(frozen=True)
class Acl:
    """`principal` may `operation` on the resource (`pattern` LITERAL or PREFIXED), from any host."""

    principal: str  # a user name; the ACL is for User:<principal>
    resource_type: int
    resource_name: str
    operation: int
    pattern: int = LITERAL


class CreateAcls(Request[CreateAclsRequest_v3]):
    API_KEY = 30

    def __init__(self, acls: list[Acl]) -> None:
        self.acls = acls

    def build(self, request_struct_class):
        return request_struct_class(
            [
                (
                    a.resource_type,
                    a.resource_name,
                    a.pattern,
                    f"User:{a.principal}",
                    "*",
                    a.operation,
                    ALLOW,
                    {},
                )
                for a in self.acls
            ],
            {},
        )


class KafkaAdminError(RuntimeError):
    pass


async def _send(admin: AIOKafkaAdminClient, request: Request) -> Response:
    return await admin._send_request(request)  # any broker: it forwards to the controller


async def upsert_users(admin: AIOKafkaAdminClient, users: dict[str, str], delete: list[str] = ()) -> None:
    """Set (or replace) the SCRAM-SHA-512 password of each user; delete the others named."""
    if not users and not delete:
        return
    response = await _send(admin, AlterUserScramCredentials(users, list(delete)))
    failed = [
        (user, code, message)
        for user, code, message, _ in response.results
        if code != 0 and not (code == 91 and user in delete)
    ]  # 91: no such credential to delete
    if failed:
        raise KafkaAdminError(f"SCRAM credentials refused: {failed}")


async def create_acls(admin: AIOKafkaAdminClient, acls: list[Acl]) -> None:
    """Allow what each ACL names (creating one that exists already is harmless)."""
    if not acls:
        return
    response = await _send(admin, CreateAcls(acls))
    failed = [(acl, code, message) for acl, (code, message, _) in zip(acls, response.results) if code != 0]
    if failed:
        raise KafkaAdminError(f"ACLs refused: {failed}")
