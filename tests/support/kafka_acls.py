"""Kafka ACLs on the local broker, which enforces them on its TLS listener (deploy/local/kafka):
client certificates signed by its development CA, and a KafkaUser's ACLs (deploy/k8s, generated
by ipcoord.k8s) granted on the broker for one test's topic prefix, then removed."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ipcoord.platform.kafka_admin import admin_client
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
SERVICE_USERS = K8S / "platform" / "generated" / "kafka-users.yaml"
EXAMPLE_USERS = K8S / "examples" / "kafka-users.yaml"


@dataclass(frozen=True)
class ClientCertificate:
    """PEM files of a TLS client: its certificate and key, and the CA of the broker's."""

    cert: Path
    key: Path
    ca: Path

    def env(self, address: str, *, with_certificate: bool = True) -> dict[str, str]:
        """The environment of an ipcoord process reaching ``address`` over TLS as this client
        (``with_certificate=False``: trusting the broker's CA, presenting nothing)."""
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": address,
            "IPCOORD_KAFKA_SECURITY_PROTOCOL": "SSL",
            "IPCOORD_KAFKA_SSL_CA_FILE": str(self.ca),
        }
        if with_certificate:
            env["IPCOORD_KAFKA_SSL_CERT_FILE"] = str(self.cert)
            env["IPCOORD_KAFKA_SSL_KEY_FILE"] = str(self.key)
        return env


def local_client(tls_dir: Path) -> ClientCertificate:
    """The local broker's own client certificate (``CN=ipcoord-dev``, a super user there)."""
    return ClientCertificate(tls_dir / "client.crt", tls_dir / "client.key", tls_dir / "ca.crt")


def issue_client_certificate(tls_dir: Path, common_name: str, into: Path) -> ClientCertificate:
    """A client certificate ``CN=<common_name>`` signed by the local broker's development CA
    (``kafka.sh tls`` names its folder): on the TLS listener its principal is
    ``User:CN=<common_name>``, as a Strimzi KafkaUser's."""
    ca_cert = x509.load_pem_x509_certificate((tls_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((tls_dir / "ca.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    into.mkdir(parents=True, exist_ok=True)
    files = ClientCertificate(
        into / f"{common_name}.crt", into / f"{common_name}.key", tls_dir / "ca.crt"
    )
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def kafka_users(path: Path) -> dict[str, dict[str, Any]]:
    """The KafkaUsers of a manifest file, by name."""
    return {
        doc["metadata"]["name"]: doc
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "KafkaUser"
    }


def _enum_name(strimzi: str) -> str:
    """Strimzi's ``DescribeConfigs`` or ``topic`` -> kafka-python's ``DESCRIBE_CONFIGS``."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", strimzi).upper()


def principal(user: dict[str, Any]) -> str:
    return f"User:CN={user['metadata']['name']}"


def acl_bindings(user: dict[str, Any], prefix: str, *, leave_out: Iterable[str] = ()) -> list[ACL]:
    """The user's ACLs as the broker's bindings, every literal name behind ``prefix`` (a test's
    topic prefix, which prefixes consumer groups too); ``leave_out``: operations not granted."""
    omitted = set(leave_out)
    bindings = []
    for entry in user["spec"]["authorization"]["acls"]:
        resource = entry["resource"]
        assert resource["patternType"] == "literal", resource
        pattern = ResourcePattern(
            ResourceType[_enum_name(resource["type"])],
            prefix + resource["name"],
            ACLResourcePatternType.LITERAL,
        )
        bindings += [
            ACL(
                principal(user), "*", ACLOperation[_enum_name(op)], ACLPermissionType.ALLOW, pattern
            )
            for op in entry.get("operations", [])
            if op not in omitted
        ]
    return bindings


@contextmanager
def granted(
    settings, user: dict[str, Any], *, leave_out: Iterable[str] = ()
) -> Iterator[list[ACL]]:
    """The user's ACLs on the broker for this test's topics, created through the PLAINTEXT
    listener (User:ANONYMOUS, a super user there) and deleted afterwards."""
    bindings = acl_bindings(user, settings.topic_prefix, leave_out=leave_out)
    admin = admin_client(settings)
    try:
        result = admin.create_acls(bindings)
        assert not result["failed"], result["failed"]
        yield bindings
    finally:
        # Exactly the bindings made here (another test's, under another prefix, stay).
        admin.delete_acls([_exactly(binding) for binding in bindings])
        admin.close()


def _exactly(binding: ACL) -> ACLFilter:
    pattern = binding.resource_pattern
    return ACLFilter(
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
        ResourcePatternFilter(pattern.resource_type, pattern.resource_name, pattern.pattern_type),
    )
