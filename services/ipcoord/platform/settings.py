"""Typed settings, read once per process from environment variables (see README, Configuration)."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProcessingGuarantee(StrEnum):
    AT_LEAST_ONCE = "at_least_once"
    EXACTLY_ONCE = "exactly_once"


class Settings(BaseSettings):
    """One object per process; every field maps to IPCOORD_<NAME> except Kafka's standard name."""

    model_config = SettingsConfigDict(env_prefix="IPCOORD_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="localhost:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    # Prepended to every topic name and consumer group: lets test runs and environments share
    # a broker without seeing each other's data.
    topic_prefix: str = ""
    # Faust table store: "rocksdb://" on disk in production, "memory://" in tests.
    store: str = "rocksdb://"
    data_dir: Path = Path("var/ipcoord")
    processing_guarantee: ProcessingGuarantee = ProcessingGuarantee.AT_LEAST_ONCE
    # gRPC port of the service; 0 picks a free port (tests). Unset: the service's default.
    grpc_port: int | None = None
    grpc_host: str = "[::]"
    # mTLS: server cert/key and the CA that signs bureau client certificates.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    # Development only: no TLS, callers name themselves with the x-ipcoord-bureau header.
    insecure_dev_identity: bool = False
    metrics_port: int | None = None
    log_level: str = "INFO"
    log_format: str = "json"
    # Known bureaus: comma-separated "id:kind:division" triples, or a path with one per line.
    bureaus: str = ""
    # Legacy USCCs that fail the GB 32100 check character but are legitimate (pilot regions).
    uscc_allow_list: str = ""
    # Holidays (YYYY-MM-DD, comma-separated) and extra working days (make-up weekend days).
    holidays: str = ""
    extra_working_days: str = ""
    # Intake fast-track deadlines, in working days from filing, and how often they are checked.
    fast_track_accept_days: int = Field(default=2, ge=1)
    fast_track_decide_days: int = Field(default=20, ge=1)
    deadline_check_interval_s: float = Field(default=60.0, gt=0)
    # Largest accepted Kafka record value, bytes.
    max_message_bytes: int = 1_000_000

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, value: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if not set(value) <= allowed:
            raise ValueError("may contain only letters, digits, '.', '_' and '-'")
        return value

    @cached_property
    def bootstrap_servers(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]

    @cached_property
    def uscc_allow_set(self) -> frozenset[str]:
        return frozenset(c.strip().upper() for c in self.uscc_allow_list.split(",") if c.strip())
