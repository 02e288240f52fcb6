"""The three services together in one process on the real broker, for the e2e tests that need
all of them (a shared clock, an operator)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import pytest
from ipcoord.credit.main import build as build_credit
from ipcoord.intake.main import build as build_intake
from ipcoord.notifications.main import build as build_notifications
from ipcoord.v1 import credit_pb2_grpc, intake_pb2_grpc, notifications_pb2_grpc
from support.callers import Caller
from support.clock import ManualClock


@dataclass
class System:
    """Callers of each service as a given bureau, and the services' addresses."""

    intake_as: Callable[[str], Caller]
    credit_as: Callable[[str], Caller]
    notifications_as: Callable[[str], Caller]
    addresses: list[str]


@pytest.fixture
async def system(settings):
    clock = ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    # As `make dev` runs them: cnipa reads any inbox, webhooks may reach this machine.
    local = settings.model_copy(
        update={
            "operators": frozenset({"cnipa"}),
            "webhook_allowed_networks": (ipaddress.ip_network("127.0.0.0/8"),),
        }
    )
    services = [
        await build_intake(local, clock=clock, tick_interval_s=3600),
        await build_credit(local, clock=clock, tick_interval_s=3600),
        await build_notifications(local),
    ]
    for service in services:
        await service.handle.start()
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{s.grpc_port}") for s in services]
    stubs = (
        intake_pb2_grpc.CaseIntakeStub,
        credit_pb2_grpc.CreditRecordsStub,
        notifications_pb2_grpc.NotificationsStub,
    )
    yield System(
        *(
            (lambda bureau, stub=stub, channel=channel: Caller(stub(channel), bureau))
            for stub, channel in zip(stubs, channels, strict=True)
        ),
        addresses=[f"127.0.0.1:{s.grpc_port}" for s in services],
    )
    for channel in channels:
        await channel.close()
    for service in reversed(services):
        await service.handle.stop()
