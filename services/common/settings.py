"""Every setting of Takeback, read in one place from `TAKEBACK_*` variables.

Defaults < environment < explicit arguments. A bad value is named in the error.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.limits import MESSAGE_VALUE_BYTES_MAX
from services.common import db_roles

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAKEBACK_", extra="ignore")

    # Where things run.
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_controller_port: int = 9093
    # Local Kafka nodes `takeback up` runs (`--brokers`): 1, or 3 for a replicated cluster. With more than
    # one and a single bootstrap address, the bootstrap lists them all: node i on its port + 2 * i.
    kafka_brokers: int = Field(default=1, ge=1, le=9)
    # Kafka authentication (SASL/SCRAM-SHA-512). Unset: the local stack's operator credential (its secrets
    # folder), or no authentication for a Kafka without it. `takeback up` gives each service its own.
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_security_protocol: str = Field(default="SASL_PLAINTEXT", pattern="^(SASL_PLAINTEXT|SASL_SSL)$")
    # PLAIN only for the compose init's first login as the operator, before any SCRAM credential exists.
    kafka_sasl_mechanism: str = Field(default="SCRAM-SHA-512", pattern="^(SCRAM-SHA-512|PLAIN)$")
    kafka_ssl_cafile: Path | None = None  # with SASL_SSL: the CA that signed the brokers' certificates
    # Who signs the events this process produces for other sources: `gateway` (after checking an API key
    # bound to the source) or `operator` (the command line's tools); unset: the source signs for itself.
    kafka_signer: str | None = Field(default=None, pattern="^(gateway|operator)$")
    kafka_signing_secret: SecretStr | None = None
    # This process's database role: by default the read-only one (the command line's reports); `takeback up`
    # starts each service with its own role's URL. Without a password in it, the role's password is read from
    # `<state dir>/secrets/postgres-<role>` (made by `takeback up`; services/common/db_roles.py). Never shown
    # in a repr (test reports, logs): the URLs may hold passwords.
    database_url: str = Field(default="postgresql://takeback_reader@127.0.0.1:55432/takeback", repr=False)
    # Owns the schema: runs migrations, makes and revokes API keys (the command line's `keys`).
    database_owner_url: str = Field(
        default="postgresql://takeback_owner@127.0.0.1:55432/takeback", repr=False
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    streams_metrics_port: int = 8091
    # Gateway worker processes on http_port (0: one per core the gateway may run on); README "The gateway's
    # worker processes" says what each holds for itself.
    gateway_workers: int = Field(default=0, ge=0, le=64)
    # Kafka producers in each gateway worker (an event goes to the one with the fewest events in flight). A
    # producer has one request in flight to a broker at a time; more producers make more, smaller requests:
    # on a 2-core machine with the broker beside, a second one cost CPU and throughput (docs/PERFORMANCE.md).
    gateway_producers: int = Field(default=1, ge=1, le=16)
    # How long an event waits for others to join its record batch when its producer has nothing in flight.
    gateway_produce_linger_ms: int = Field(default=5, ge=0, le=1000)
    streams_workers: int = Field(default=2, ge=1, le=32)  # processes in the consumer group (one per core)
    ledger_workers: int = Field(default=2, ge=1, le=32)  # posting workers in the ledger's consumer group
    streams_group: str = "takeback-streams"  # the faust app id, which is also its consumer group
    ledger_metrics_port: int = 8092

    # Local stack folders.
    state_dir: Path = PROJECT_ROOT / ".state"
    cache_dir: Path = Path.home() / ".cache" / "takeback"

    # Topics.
    topic_partitions: int = Field(default=4, ge=1, le=256)
    topic_retention_ms: int = Field(default=-1, ge=-1)  # -1: keep input forever, so replay works

    # Processing bounds.
    batch_max_events: int = Field(default=2000, ge=1, le=100_000)
    batch_max_wait_ms: int = Field(default=50, ge=1, le=10_000)  # a batch closes this long after its start
    # ... or in the stream workers once this long passed without a new event (streams/adapters/batching.py)
    batch_idle_ms: int = Field(default=2, ge=1, le=10_000)
    # A stream worker's fetch: the broker answers once it holds `fetch_min_bytes` for it, or after this long
    # (0: as soon as it holds anything, faust's way). A trade, measured in docs/PERFORMANCE.md (eleventh
    # pass): less CPU under a trickle of events (the gateway's load), more under a backlog (`takeback bench`).
    fetch_wait_ms: int = Field(default=0, ge=0, le=1_000)
    fetch_min_bytes: int = Field(default=65_536, ge=1, le=16_777_216)
    outbox_batch_max: int = Field(default=5000, ge=1, le=100_000)
    outbox_poll_ms: int = Field(default=50, ge=1, le=10_000)
    reconciliation_interval_s: int = Field(default=300, ge=1)  # a full run reads the whole journal
    outbox_retention_hours: float = Field(default=168, ge=1)  # sent outbox rows older than this are pruned
    relay_stuck_after_s: float = Field(default=60, gt=0)  # an outbox row unsent longer than this: unhealthy
    # Every service connection: one forgotten transaction or runaway statement cannot hold back the relays'
    # windows, vacuum, or a lock for long.
    idle_in_transaction_timeout_s: int = Field(default=60, ge=1)
    statement_timeout_s: int = Field(default=600, ge=1)
    http_body_max_bytes: int = Field(default=MESSAGE_VALUE_BYTES_MAX, ge=1024, le=MESSAGE_VALUE_BYTES_MAX)
    # Gateway rate limits (token buckets): requests per key, and failed authentications per client address.
    http_key_rate_per_s: float = Field(default=200, gt=0)
    http_key_burst: int = Field(default=2000, ge=1)
    http_auth_failure_rate_per_s: float = Field(default=1, gt=0)
    http_auth_failure_burst: int = Field(default=30, ge=1)

    # Logging.
    log_level: str = "info"
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")

    @model_validator(mode="after")
    def _bootstrap_lists_every_broker(self) -> Settings:
        addresses = [a.strip() for a in self.kafka_bootstrap.split(",") if a.strip()]
        if self.kafka_brokers > 1 and len(addresses) == 1:
            host, port = addresses[0].rsplit(":", 1)
            self.kafka_bootstrap = ",".join(f"{host}:{int(port) + 2 * i}" for i in range(self.kafka_brokers))
        return self

    @model_validator(mode="after")
    def _database_passwords_from_secrets(self) -> Settings:
        return self.fill_database_passwords()

    def fill_database_passwords(self) -> Settings:
        """Database URLs without a password take their role's from the secrets folder (`takeback up`
        makes them)."""
        self.database_url = db_roles.filled(self.database_url, self.state_dir)
        self.database_owner_url = db_roles.filled(self.database_owner_url, self.state_dir)
        return self

    def database_url_as(self, role: str) -> str:
        """The URL of `role` on this process's database, with its password from the secrets folder if
        known."""
        return db_roles.with_role(self.database_url, role, db_roles.known_password(self.state_dir, role))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
