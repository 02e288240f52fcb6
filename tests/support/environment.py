"""What a test needs from the machine (a broker, kustomize, the local broker's TLS listener):
where it is missing, the test is skipped with the reason, except under CI (CI=true, set by
.ci/run), where a missing piece would otherwise hide a whole group of tests: it fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The local broker (make kafka-up): start, stop, its TLS listener.
KAFKA_SH = Path(__file__).resolve().parents[2] / "deploy" / "local" / "kafka" / "kafka.sh"


def unavailable(reason: str) -> None:
    """Skip the test for ``reason``; under CI, fail it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)
