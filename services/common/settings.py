"""Every setting of Takeback, read in one place from `TAKEBACK_*` variables.

Defaults < environment < explicit arguments. A bad value is named in the error.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAKEBACK_", extra="ignore")

    # Where things run.
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_controller_port: int = 9093
    database_url: str = "postgresql://takeback:takeback@127.0.0.1:55432/takeback"
    # Owns the schema and runs migrations; the services connect as the role above.
    database_owner_url: str = "postgresql://takeback_owner:takeback_owner@127.0.0.1:55432/takeback"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    streams_metrics_port: int = 8091
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
    batch_max_wait_ms: int = Field(default=50, ge=1, le=10_000)
    outbox_batch_max: int = Field(default=5000, ge=1, le=100_000)
    outbox_poll_ms: int = Field(default=50, ge=1, le=10_000)
    reconciliation_interval_s: int = Field(default=300, ge=1)  # a full run reads the whole journal
    http_body_max_bytes: int = Field(default=1_048_576, ge=1024)

    # Logging.
    log_level: str = "info"
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
