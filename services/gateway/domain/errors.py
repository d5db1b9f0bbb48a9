"""Refusals of the gateway; each carries the HTTP status and a reason code the caller can act on."""

from __future__ import annotations


class Refused(Exception):
    """A request the gateway will not carry out; nothing of it reaches Kafka."""

    status = 400

    def __init__(
        self,
        reason: str,
        message: str,
        errors: list[dict[str, str]] | None = None,
        event_type: str | None = None,
    ) -> None:
        super().__init__(f"{reason}: {message}")
        assert reason.islower() and " " not in reason, "a reason is a snake_case code"
        self.reason = reason
        self.message = message
        self.errors = errors or []  # for schema_violation: one {field, rule, message} per failing field
        self.event_type = event_type


class BadEvent(Refused):
    """400: the body breaks the contract (invalid_json, unknown_type, schema_violation,
    occurred_in_future)."""

    status = 400


class Unauthenticated(Refused):
    """401: missing_key, malformed_key, unknown_key, revoked_key."""

    status = 401


class Forbidden(Refused):
    """403: type_not_allowed, not_your_source, source_mismatch, finance_only."""

    status = 403


class BodyTooLarge(Refused):
    """413: too_large (contract 8.4)."""

    status = 413


class EventLogUnavailable(Refused):
    """503: Kafka did not acknowledge the event in time; retry with the same event_id."""

    status = 503


class NotWiredYet(Refused):
    """501: the read model behind this endpoint is not installed in this build."""

    status = 501


class InvalidKeyRequest(ValueError):
    """A key that cannot be issued (bad kind, id or role); raised to the operator, not over HTTP."""


class NotFound(Refused):
    """404: unknown_battery (or another unknown subject)."""

    status = 404


class NotAcceptable(Refused):
    """406: not_acceptable, `Accept` allows none of the representations a report has (JSON, CSV)."""

    status = 406


class UnsupportedMediaType(Refused):
    """415: unsupported_media_type, a body that is not `application/json` (contract 8.4)."""

    status = 415


class TooManyRequests(Refused):
    """429: rate_limited (this key) or too_many_failed_authentications (this address); retry after."""

    status = 429

    def __init__(self, reason: str, message: str, retry_after_s: int) -> None:
        super().__init__(reason, message)
        assert retry_after_s >= 1, "Retry-After is at least one second"
        self.retry_after_s = retry_after_s


class ReconciliationUnavailable(Refused):
    """503: no reconciliation run could be made now (the database or Kafka is away); retry."""

    status = 503


class InvalidRequest(Refused):
    """400: invalid_request, a parameter breaks its rule, or the query holds one the operation does not
    take."""

    status = 400


class DatabaseUnavailable(Refused):
    """503: database_unavailable, the scheme's records could not be read or written now; retry."""

    status = 503
