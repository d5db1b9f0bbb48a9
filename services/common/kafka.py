"""Kafka clients as the settings say: SASL/SCRAM-SHA-512 credentials, and signed events in.

Every client of the project takes `client_options(settings)`. A process with no
credential of its own (the command line, the tests) uses the local stack's
operator credential, from its secrets folder; a Kafka without authentication
(brought by the user, no credential anywhere) gets none.

Events in are signed: `takeback-signature` is the HMAC-SHA256 (hex) of the
value, with the secret of the envelope's source, or, when `takeback-signer`
names `gateway` or `operator`, with that signer's secret (contract 8.4: a
credential writes only as the source it was made for).
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from services.common.settings import Settings

MECHANISM = "SCRAM-SHA-512"
OPERATOR = "admin"  # the local stack's operator principal (a Kafka super user)
SIGNATURE_HEADER = "takeback-signature"
SIGNER_HEADER = "takeback-signer"
SIGNERS = ("gateway", "operator")


def secret_file(state_dir: Path, name: str) -> Path:
    return state_dir / "secrets" / name


def credentials(settings: Settings) -> tuple[str, str] | None:
    if settings.kafka_username and settings.kafka_password is not None:
        return settings.kafka_username, settings.kafka_password.get_secret_value()
    operator = secret_file(settings.state_dir, "kafka-admin")
    if operator.exists():
        return OPERATOR, operator.read_text().strip()
    return None


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
    found = credentials(settings)
    if found is None:
        return {}
    options: dict[str, Any] = {
        "security_protocol": settings.kafka_security_protocol,
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": found[0],
        "sasl_plain_password": found[1],
    }
    if settings.kafka_security_protocol == "SASL_SSL":
        from aiokafka.helpers import create_ssl_context

        options["ssl_context"] = create_ssl_context(cafile=str(settings.kafka_ssl_cafile or "") or None)
    return options


def signer(settings: Settings) -> tuple[str, str] | None:
    """(who signs, secret) for this process's events in, or None when each source signs for itself."""
    if settings.kafka_signer and settings.kafka_signing_secret is not None:
        return settings.kafka_signer, settings.kafka_signing_secret.get_secret_value()
    operator = secret_file(settings.state_dir, "signing-operator")
    if settings.kafka_signer in (None, "operator") and operator.exists():
        return "operator", operator.read_text().strip()
    return None


def signature(secret: str, value: bytes) -> str:
    return hmac.digest(secret.encode(), value, "sha256").hex()  # one native call: the same hex as hmac.new


def signature_headers(value: bytes, secret: str, signed_by: str | None = None) -> list[tuple[str, bytes]]:
    headers = [(SIGNATURE_HEADER, signature(secret, value).encode())]
    if signed_by is not None:
        headers.append((SIGNER_HEADER, signed_by.encode()))
    return headers


def verify(secret: str, value: bytes, given: bytes | None) -> bool:
    return given is not None and hmac.compare_digest(signature(secret, value).encode(), given)


class SigningProducer:
    """An aiokafka producer whose every message carries this process's signature (as gateway or operator)."""

    def __init__(self, producer: AIOKafkaProducer, signed_by: str, secret: str) -> None:
        assert signed_by in SIGNERS, "only the gateway and the operator sign for others"
        self.producer, self.signed_by, self.secret = producer, signed_by, secret

    def _headers(self, value: bytes, headers) -> list[tuple[str, bytes]]:
        return [*(headers or []), *signature_headers(value, self.secret, self.signed_by)]

    async def send(self, topic: str, value: bytes, key: bytes | None = None, headers=None, **kwargs):
        return await self.producer.send(
            topic, value, key=key, headers=self._headers(value, headers), **kwargs
        )

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None = None, headers=None, **kwargs):
        return await self.producer.send_and_wait(
            topic, value, key=key, headers=self._headers(value, headers), **kwargs
        )

    def __getattr__(self, name: str):  # start, stop, flush, partitions_for, ... as the producer has them
        return getattr(self.producer, name)


def events_producer(settings: Settings, **options: Any) -> AIOKafkaProducer | SigningProducer:
    """A producer of events in for this process: signed as its signer when it has one."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, **client_options(settings), **options
    )
    found = signer(settings)
    return producer if found is None else SigningProducer(producer, *found)
