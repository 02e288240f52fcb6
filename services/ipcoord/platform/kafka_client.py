"""How every Kafka client of ipcoord connects: the brokers and, with
IPCOORD_KAFKA_SECURITY_PROTOCOL=SSL, TLS from the settings' PEM files (the brokers' CA and, for
TLS client authentication, the service's certificate and key: a Strimzi KafkaUser's Secret).

Faust, aiokafka and kafka-python all take an ``ssl.SSLContext``, so one context configures them
all, and the broker's host name is checked against its certificate by each."""

from __future__ import annotations

import ssl
from typing import Any

from ipcoord.platform.settings import Settings, ca_files


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of every Kafka connection; None for PLAINTEXT."""
    if settings.kafka_security_protocol != "SSL":
        return None
    if settings.kafka_ssl_ca_file is None:
        context = ssl.create_default_context()  # the system's CAs
    else:
        # Only the given CAs (as create_default_context(cafile=...) would, for one file).
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        for path in ca_files(settings.kafka_ssl_ca_file):
            context.load_verify_locations(cafile=str(path))
    if settings.kafka_ssl_cert_file is not None and settings.kafka_ssl_key_file is not None:
        context.load_cert_chain(settings.kafka_ssl_cert_file, settings.kafka_ssl_key_file)
    return context


def connection(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of an aiokafka or kafka-python client: where and how to connect."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    return options
