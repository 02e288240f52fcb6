from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from ipcoord.intake.main import build
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.grpc_server import create_server
from ipcoord.platform.identity import IdentityResolver
from ipcoord.platform.settings import Settings
from ipcoord.v1 import intake_pb2_grpc
from support.clock import ManualClock
from support.environment import KAFKA_SH, unavailable
from support.grpc_probe import WhoAmI
from support.pki import ThrowawayCA


class Bureau:
    """A CaseIntake stub that calls as one bureau (dev identity header)."""

    def __init__(self, channel: grpc.aio.Channel, bureau: str) -> None:
        self._stub = intake_pb2_grpc.CaseIntakeStub(channel)
        self._metadata = (("x-ipcoord-bureau", bureau),)

    def __getattr__(self, method: str):
        rpc = getattr(self._stub, method)
        return lambda request: rpc(request, metadata=self._metadata, timeout=30)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))  # a Monday


@pytest.fixture
async def intake(settings, clock):
    service = await build(settings, clock=clock, tick_interval_s=3600)
    await service.handle.start()
    yield service
    await service.handle.stop()


@pytest.fixture
async def channel(intake):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{intake.grpc_port}") as ch:
        yield ch


@pytest.fixture
def as_bureau(channel):
    return lambda bureau: Bureau(channel, bureau)


@pytest.fixture
async def tls_server(tmp_path):
    """A TLS server whose CaseIntake.GetCase answers with the caller's bureau (the
    certificate's CN), and the CA that issued its certificate."""
    ca = ThrowawayCA()
    cert, key, client_ca = ca.write_server_files(tmp_path)
    settings = Settings(
        grpc_host="127.0.0.1",
        tls_cert_file=cert,
        tls_key_file=key,
        tls_client_ca_file=client_ca,
        bureaus="cnipa:ipa:100000,ipb-sz:ipa:440300",  # with TLS the registry is required
    )
    identity = IdentityResolver(BureauRegistry.demo(), insecure_dev_identity=False)
    running = await create_server(
        [WhoAmI(identity).registration()], settings, port=0, service="probe"
    )
    yield ca, running
    await running.stop(grace=0)


@pytest.fixture
def tls_listener(kafka_bootstrap: str) -> tuple[str, Path]:
    """The local broker's TLS listener (client certificates required, ACLs enforced) and the
    folder of its development CA, key and client certificate (deploy/local/kafka/kafka.sh)."""
    if kafka_bootstrap != f"localhost:{os.environ.get('KAFKA_PORT', '9092')}":
        unavailable(
            f"the TLS listener is the local broker's (make kafka-up), not {kafka_bootstrap}"
        )
    address, directory = subprocess.run(
        ["bash", str(KAFKA_SH), "tls"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert (Path(directory) / "ca.key").exists(), (
        "the local broker was started without its TLS listener: make kafka-down kafka-up"
    )
    return address, Path(directory)
