"""The gRPC server factory with real servers on port 0 and real channels."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.grpc_server import LIVENESS, create_server, report_readiness
from ipcoord.platform.identity import IdentityResolver
from ipcoord.platform.settings import Settings
from ipcoord.v1 import intake_pb2, intake_pb2_grpc
from support.grpc_probe import WhoAmI
from support.pki import ThrowawayCA

_SETTINGS = Settings(grpc_host="127.0.0.1", insecure_dev_identity=True)


@pytest.fixture
async def server():
    identity = IdentityResolver(BureauRegistry.demo(), insecure_dev_identity=True)
    running = await create_server(
        [WhoAmI(identity).registration()],
        _SETTINGS,
        port=0,
        service="probe",
    )
    yield running
    await running.stop(grace=0)


async def test_health_is_not_serving_until_ready_then_serving(server):
    assert server.port > 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "ipcoord.v1.CaseIntake"):
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
        await server.set_serving(True)
        for service in ("", "ipcoord.v1.CaseIntake"):
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_readiness_follows_what_the_replica_can_answer_and_liveness_does_not(server):
    answerable = [False]
    watch = asyncio.create_task(report_readiness(server, lambda: answerable[0], poll_s=0.01))

    async def status(stub, service: str) -> int:
        return (await stub.Check(health_pb2.HealthCheckRequest(service=service))).status

    async def until(stub, service: str, expected: int) -> None:
        for _ in range(200):
            if await status(stub, service) == expected:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{service!r} never became {expected}")

    serving, not_serving = (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            assert await status(stub, LIVENESS) == serving  # alive before it is ready
            await until(stub, "", not_serving)
            answerable[0] = True
            await until(stub, "ipcoord.v1.CaseIntake", serving)
            answerable[0] = False  # a rebalance: the replica cannot answer for a moment
            await until(stub, "", not_serving)
            assert await status(stub, LIVENESS) == serving
    finally:
        watch.cancel()


async def test_the_health_port_serves_health_in_plaintext_beside_the_mtls_port(tmp_path):
    cert, key, client_ca = ThrowawayCA().write_server_files(tmp_path)
    settings = Settings(
        grpc_host="127.0.0.1",
        health_port=0,
        tls_cert_file=cert,
        tls_key_file=key,
        tls_client_ca_file=client_ca,
        bureaus="ipb-sz:ipa:440300",
    )
    identity = IdentityResolver(BureauRegistry.demo(), insecure_dev_identity=False)
    running = await create_server(
        [WhoAmI(identity).registration()], settings, port=0, service="probe"
    )
    try:
        await running.set_serving(True)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.health_port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="ipcoord.v1.CaseIntake")
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as other:  # nothing else is served there
                await intake_pb2_grpc.CaseIntakeStub(channel).GetCase(
                    intake_pb2.GetCaseRequest(), metadata=(("x-ipcoord-bureau", "ipb-sz"),)
                )
            assert other.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await running.stop(grace=0)


async def test_reflection_lists_the_service_and_health(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        responses = [r async for r in stub.ServerReflectionInfo(iter([request]))]
        names = {s.name for s in responses[0].list_services_response.service}
        assert {"ipcoord.v1.CaseIntake", "grpc.health.v1.Health"} <= names
        file_request = reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="ipcoord.v1.CaseIntake"
        )
        responses = [r async for r in stub.ServerReflectionInfo(iter([file_request]))]
        assert responses[0].file_descriptor_response.file_descriptor_proto


async def test_caller_identity_from_dev_header_and_refusals(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = intake_pb2_grpc.CaseIntakeStub(channel)
        reply = await stub.GetCase(
            intake_pb2.GetCaseRequest(), metadata=(("x-ipcoord-bureau", "ipb-sz"),)
        )
        assert reply.case_id == "ipb-sz"
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetCase(intake_pb2.GetCaseRequest())
        assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.GetCase(
                intake_pb2.GetCaseRequest(), metadata=(("x-ipcoord-bureau", "nobody"),)
            )
        assert unknown.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "nobody" in unknown.value.details()


async def test_calls_are_counted_by_method_and_code(server):
    from prometheus_client import REGISTRY

    def count(code: str) -> float:
        labels = {"service": "probe", "method": "/ipcoord.v1.CaseIntake/GetCase", "code": code}
        return REGISTRY.get_sample_value("ipcoord_grpc_requests_total", labels) or 0.0

    ok_before, denied_before = count("OK"), count("PERMISSION_DENIED")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = intake_pb2_grpc.CaseIntakeStub(channel)
        await stub.GetCase(intake_pb2.GetCaseRequest(), metadata=(("x-ipcoord-bureau", "cnipa"),))
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetCase(intake_pb2.GetCaseRequest(), metadata=(("x-ipcoord-bureau", "x"),))
    assert count("OK") == ok_before + 1
    assert count("PERMISSION_DENIED") == denied_before + 1
