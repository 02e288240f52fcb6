"""Running the `ipcoord` command in a test, against a test's broker prefix and services, off
the event loop (the services under test run on it)."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner, Result
from ipcoord.cli import main


async def ipcoord(settings, addresses: list[str], *args: str, bureau: str = "") -> Result:
    """``ipcoord ARGS`` as a user runs it: configuration from the environment."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "IPCOORD_TOPIC_PREFIX": settings.topic_prefix,
        "IPCOORD_INTAKE": addresses[0],
        "IPCOORD_CREDIT": addresses[1],
        "IPCOORD_NOTIFICATIONS": addresses[2],
        "IPCOORD_AS_BUREAU": bureau,
    }
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


def json_lines(result: Result) -> list[dict]:
    assert "Traceback" not in result.output, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
