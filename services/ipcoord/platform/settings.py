"""Typed settings, read once per process from environment variables (see README, Configuration).

Every value is parsed and checked when ``Settings()`` is built, so a bad one stops the process at
start with an error naming its variable (the error's location is the variable when the value
came from the environment, the field name when it was passed as an argument)."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import socket
import ssl
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasGenerator,
    Field,
    FilePath,
    PlainValidator,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ipcoord.platform.bureaus import BureauRegistry

log = logging.getLogger(__name__)

_ENV_PREFIX = "IPCOORD_"


class ProcessingGuarantee(StrEnum):
    # The only one: see _no_exactly_once.
    AT_LEAST_ONCE = "at_least_once"


def _registry(value: object) -> BureauRegistry | None:
    if value is None or isinstance(value, BureauRegistry):
        return value
    if not isinstance(value, str):
        raise ValueError("must be id:kind:division entries or a file path")
    return BureauRegistry.parse(value)


class Settings(BaseSettings):
    """One object per process; every field maps to IPCOORD_<NAME> except Kafka's standard name."""

    model_config = SettingsConfigDict(
        alias_generator=AliasGenerator(validation_alias=lambda name: _ENV_PREFIX + name.upper()),
        # Tests and tools build Settings(topic_prefix=...) by field name too.
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )

    # Kafka brokers, host:port each; "a:9092,b:9092" in the environment.
    bootstrap_servers: Annotated[list[str], NoDecode] = Field(
        default=["localhost:9092"], validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    # How every client reaches Kafka: PLAINTEXT (the local broker) or SSL. With SSL: the CA
    # that signed the brokers' certificates (unset: the system's CAs) and, for TLS client
    # authentication (a Strimzi KafkaUser with `authentication: tls`), this service's
    # certificate and key; PEM files (platform/kafka_client.py).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL"] = "PLAINTEXT"
    # A file, or a directory whose every *.crt is trusted (a mounted Strimzi cluster CA Secret:
    # while Strimzi replaces the CA key it keeps the old CA certificates there beside ca.crt).
    kafka_ssl_ca_file: Path | None = None
    kafka_ssl_cert_file: FilePath | None = None
    kafka_ssl_key_file: FilePath | None = None
    # Prepended to every topic name and consumer group: lets test runs and environments share
    # a broker without seeing each other's data.
    topic_prefix: str = ""
    # Faust table store: "rocksdb://" on disk in production, "memory://" in tests.
    store: str = "rocksdb://"
    data_dir: Path = Path("var/ipcoord")
    # This replica's stable name (the pod name of a StatefulSet; the host name by default): its
    # static membership in the consumer group, so a replica restarted after a crash takes its
    # partitions back without a rebalance (see platform/faust_app.py). Unique per replica.
    # Unset: the host name plus a digest of the data directory, stable across restarts and
    # unique per replica on one host (two replicas with one id fence each other endlessly).
    replica_id: str = ""
    processing_guarantee: ProcessingGuarantee = ProcessingGuarantee.AT_LEAST_ONCE
    # gRPC port of the service; 0 picks a free port (tests). Unset: the service's default.
    grpc_port: int | None = None
    grpc_host: str = "[::]"
    # A second, plaintext port that serves only the standard gRPC health service: Kubernetes'
    # gRPC probes cannot present a client certificate to the mTLS port. Unset: none (health is
    # on the gRPC port, as always). 0 picks a free port (tests).
    health_port: int | None = None
    # The host other replicas reach this one's gRPC server at (a lookup for a partition another
    # replica owns is forwarded there). Keep it stable across restarts (the group may hand a
    # restarted replica its previous assignment, announced under the old name): in Kubernetes
    # the StatefulSet pod's DNS name, "<pod>.<headless service>". Unset: the host name.
    advertised_host: str = ""
    # mTLS: server cert/key and the CA that signs bureau client certificates. A server
    # certificate marks production: the bureau registry is then required.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    # Development only: no TLS, callers name themselves with the x-ipcoord-bureau header.
    insecure_dev_identity: bool = False
    metrics_port: int | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    # Known bureaus: "id:kind:division" entries separated by commas or newlines, or a file path
    # with one per line. None: unset, which only development may be (see bureau_registry).
    bureaus: Annotated[BureauRegistry | None, PlainValidator(_registry)] = None
    # Legacy USCCs that fail the GB 32100 check character but are legitimate (pilot regions);
    # upper-cased, as USCCs are compared.
    uscc_allow_list: Annotated[frozenset[str], NoDecode] = frozenset()
    # Overrides of the statutory calendar (YYYY-MM-DD, comma-separated): holidays, and working
    # days (make-up weekend days the library does not know yet).
    holidays: Annotated[frozenset[date], NoDecode] = frozenset()
    extra_working_days: Annotated[frozenset[date], NoDecode] = frozenset()
    # Intake fast-track deadlines, in working days from filing, and how often they are checked.
    fast_track_accept_days: int = Field(default=2, ge=1)
    fast_track_decide_days: int = Field(default=20, ge=1)
    deadline_check_interval_s: float = Field(default=60.0, gt=0)
    # Largest accepted Kafka record value, bytes.
    max_message_bytes: int = 1_000_000
    # Copies of each table partition another replica keeps current (Faust's standby
    # replicas): a takeover then needs no recovery from the changelog, but every replica
    # applies the others' table writes too (docs/benchmarks.md, "Intake on one worker
    # against two"). 0: a takeover recovers the partition's tables from the changelog first.
    table_standby_replicas: int = Field(default=1, ge=0)
    # Credit records: the rules file (listing rules, measures, terms; unset: the shipped one),
    # and the keys of personal id number hashes (a JSON file, a Kubernetes Secret; unset: a
    # development key, refused with TLS configured).
    credit_rules: Path | None = None
    person_hash_keys: Path | None = None
    # Notifications: callers with the operator role (bureau ids: they read every recipient's
    # notifications and subscriptions); the key webhook secrets are derived from (a file, a
    # Kubernetes Secret; unset: a development key, refused with TLS configured); networks
    # webhooks may reach although they are not public (CIDRs, a receiver inside the cluster).
    operators: Annotated[frozenset[str], NoDecode] = frozenset()
    webhook_key_file: Path | None = None
    webhook_allowed_networks: Annotated[
        tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...], NoDecode
    ] = ()

    @model_validator(mode="after")
    def _default_replica_id(self) -> Settings:
        if not self.replica_id:
            place = hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:8]
            object.__setattr__(self, "replica_id", f"{socket.gethostname()}-{place}")
        if not self.advertised_host:
            object.__setattr__(self, "advertised_host", socket.gethostname())
        return self

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, value: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if not set(value) <= allowed:
            raise ValueError("may contain only letters, digits, '.', '_' and '-'")
        return value

    @field_validator(
        "bootstrap_servers",
        "uscc_allow_list",
        "holidays",
        "extra_working_days",
        "operators",
        "webhook_allowed_networks",
        mode="before",
    )
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        # The documented format is "a,b,c" (blanks dropped), not the JSON pydantic-settings
        # expects for collections (hence NoDecode on these fields); lists and sets pass through.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers_are_host_port(cls, servers: list[str]) -> list[str]:
        if not servers:
            raise ValueError("names no broker: host:port, comma-separated")
        for server in servers:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server!r} is not host:port")
        return servers

    @field_validator("webhook_allowed_networks", mode="after")
    @classmethod
    def _networks_are_strict(cls, networks: tuple) -> tuple:
        return tuple(ipaddress.ip_network(str(n), strict=True) for n in networks)

    @field_validator("uscc_allow_list")
    @classmethod
    def _usccs_are_upper_case_codes(cls, codes: frozenset[str]) -> frozenset[str]:
        codes = frozenset(code.upper() for code in codes)
        for code in codes:
            # Only the shape: these codes are listed because their check character fails.
            if len(code) != 18 or not code.isascii() or not code.isalnum():
                raise ValueError(f"{code!r} is not an 18-character USCC")
        return codes

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("processing_guarantee", mode="before")
    @classmethod
    def _no_exactly_once(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == "exactly_once":
            raise ValueError(
                "exactly_once is not supported: Faust's transactions cover only outputs "
                "co-partitioned with the input; ipcoord runs at_least_once with deterministic "
                "event ids (consumers de-duplicate on event_id); see docs/intake.md"
            )
        return value

    @model_validator(mode="after")
    def _calendar_overrides_agree(self) -> Settings:
        both = self.holidays & self.extra_working_days
        if both:
            days = ", ".join(sorted(d.isoformat() for d in both))
            raise ValueError(
                f"IPCOORD_HOLIDAYS and IPCOORD_EXTRA_WORKING_DAYS both list {days}: a day is one "
                "or the other"
            )
        return self

    @model_validator(mode="after")
    def _kafka_tls_is_whole(self) -> Settings:
        files = {
            "IPCOORD_KAFKA_SSL_CA_FILE": self.kafka_ssl_ca_file,
            "IPCOORD_KAFKA_SSL_CERT_FILE": self.kafka_ssl_cert_file,
            "IPCOORD_KAFKA_SSL_KEY_FILE": self.kafka_ssl_key_file,
        }
        given = sorted(name for name, path in files.items() if path is not None)
        if given and self.kafka_security_protocol != "SSL":
            raise ValueError(
                f"{', '.join(given)} set but IPCOORD_KAFKA_SECURITY_PROTOCOL is "
                f"{self.kafka_security_protocol}: set it to SSL, or unset the files"
            )
        if (self.kafka_ssl_cert_file is None) != (self.kafka_ssl_key_file is None):
            raise ValueError(
                "IPCOORD_KAFKA_SSL_CERT_FILE and IPCOORD_KAFKA_SSL_KEY_FILE go together: "
                "TLS client authentication needs the certificate and its key"
            )
        if self.kafka_security_protocol == "SSL":
            _check_kafka_tls_files(self)
        return self

    @model_validator(mode="after")
    def _registry_required_with_tls(self) -> Settings:
        if self.bureaus is None and self.tls_cert_file is not None:
            raise ValueError(
                "IPCOORD_BUREAUS is unset but TLS is configured (IPCOORD_TLS_CERT_FILE): "
                "production needs its bureau registry, id:kind:division entries or a file path; "
                "the demo bureaus are for development only"
            )
        return self

    @property
    def bureau_registry(self) -> BureauRegistry:
        """IPCOORD_BUREAUS; unset (development, no TLS): the demo bureaus, with a warning.

        A property, not cached: model_copy(update=...) would keep a cached registry."""
        if self.bureaus is not None:
            return self.bureaus
        log.warning(
            "IPCOORD_BUREAUS is unset: using the demo bureaus (development only; with TLS "
            "configured an unset registry is a start-up error)"
        )
        return BureauRegistry.demo()

    @property
    def kafka_bootstrap_servers(self) -> str:
        """The brokers as KAFKA_BOOTSTRAP_SERVERS spells them (messages, child processes)."""
        return ",".join(self.bootstrap_servers)


def _check_kafka_tls_files(settings: Settings) -> None:
    """Read the Kafka TLS files now, so a wrong one is a start-up error naming its variable
    rather than a connection the broker closes (platform/kafka_client.py uses them)."""
    context = ssl.create_default_context()
    if settings.kafka_ssl_ca_file is not None:
        files = ca_files(settings.kafka_ssl_ca_file)
        if not files:
            raise ValueError(
                f"IPCOORD_KAFKA_SSL_CA_FILE {settings.kafka_ssl_ca_file} is neither a file nor "
                "a directory with *.crt files"
            )
        for path in files:
            try:
                context.load_verify_locations(cafile=str(path))
            except ssl.SSLError as exc:
                raise ValueError(
                    f"IPCOORD_KAFKA_SSL_CA_FILE: {path} holds no PEM certificate: {exc}"
                ) from exc
    if settings.kafka_ssl_cert_file is not None and settings.kafka_ssl_key_file is not None:
        try:
            context.load_cert_chain(settings.kafka_ssl_cert_file, settings.kafka_ssl_key_file)
        except ssl.SSLError as exc:
            raise ValueError(
                "IPCOORD_KAFKA_SSL_CERT_FILE and IPCOORD_KAFKA_SSL_KEY_FILE are not a PEM "
                f"certificate and its private key: {exc}"
            ) from exc


def ca_files(path: Path) -> list[Path]:
    """The CA certificate files IPCOORD_KAFKA_SSL_CA_FILE names: itself, or a directory's
    *.crt files; none when it is neither."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(path.glob("*.crt"))
    return []
