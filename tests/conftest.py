"""Shared fixtures. The Kafka broker is found in this order:
1. KAFKA_BOOTSTRAP_SERVERS, if set;
2. testcontainers' Kafka module, where a Docker engine answers;
3. the project's local broker (deploy/local/kafka/kafka.sh up; left running for the next run).
With CI=true and no broker, Kafka tests fail; elsewhere they are skipped with the reason."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ipcoord.platform.kafka_admin import delete_prefixed, ensure_topics
from ipcoord.platform.settings import Settings
from ipcoord.topology import all_topics
from support.environment import KAFKA_SH, unavailable
from support.serving import kill_leftovers


def _docker_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _require_broker(bootstrap: str) -> None:
    """Fail once, clearly, rather than every test timing out on its own."""
    from ipcoord.platform.kafka_admin import admin_client
    from kafka.errors import KafkaError

    try:
        admin_client(Settings(KAFKA_BOOTSTRAP_SERVERS=bootstrap), timeout_ms=5_000).close()
    except KafkaError as exc:
        pytest.fail(f"KAFKA_BOOTSTRAP_SERVERS={bootstrap} is set but no broker answers: {exc!r}")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        _require_broker(configured)
        yield configured
        return
    if _docker_available():
        from testcontainers.community.kafka import KafkaContainer

        # Confluent Platform 8.0 is Apache Kafka 4.0, the image line testcontainers' Kafka
        # module starts in KRaft mode. (Not exercised here: this machine has no Docker engine.)
        image = os.environ.get("IPCOORD_TEST_KAFKA_IMAGE", "confluentinc/cp-kafka:8.0.0")
        with KafkaContainer(image).with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    result = subprocess.run(["bash", str(KAFKA_SH), "up"], capture_output=True, text=True)
    if result.returncode != 0:
        unavailable(f"no Kafka broker: local broker failed to start:\n{result.stderr[-3000:]}")
    yield f"localhost:{os.environ.get('KAFKA_PORT', '9092')}"


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings for one test: its own topic prefix (so runs never see each other's data),
    topics created from the registry, removed afterwards."""
    s = Settings(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        store="memory://",
        data_dir=tmp_path / "data",
        grpc_port=0,
        grpc_host="127.0.0.1",
        insecure_dev_identity=True,
        log_format="text",
    )
    ensure_topics(s, all_topics())  # the table changelogs too, as `ipcoord topics create`
    yield s
    delete_prefixed(s)


@pytest.fixture(autouse=True)
def _no_service_left_running() -> Iterator[None]:
    """A test that started `ipcoord serve` processes and failed half-way leaves none behind."""
    yield
    kill_leftovers()
