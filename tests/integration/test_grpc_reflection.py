"""Server reflection as a stock client uses it (grpcurl describe, ghz): every method resolves.

The client side is grpcio-reflection's own ProtoReflectionDescriptorDatabase feeding a protobuf
DescriptorPool. Each symbol is asked with a fresh database so the server itself must answer
``file_containing_symbol("pkg.Service.Method")`` instead of a locally cached file.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.grpc_server import create_server
from ipcoord.platform.identity import IdentityResolver
from ipcoord.platform.settings import Settings
from support.grpc_probe import WhoAmI

_SETTINGS = Settings(grpc_host="127.0.0.1", insecure_dev_identity=True)


@pytest.fixture
async def server():
    identity = IdentityResolver(
        BureauRegistry.parse("cnipa:ipa:100000"), insecure_dev_identity=True
    )
    running = await create_server(
        [WhoAmI(identity).registration()], _SETTINGS, port=0, service="reflection-probe"
    )
    yield running
    await running.stop(grace=0)


def _fresh_pool(channel: grpc.Channel) -> tuple[ProtoReflectionDescriptorDatabase, object]:
    database = ProtoReflectionDescriptorDatabase(channel)
    return database, descriptor_pool.DescriptorPool(database)


def _every_method(address: str) -> dict[str, tuple[str, str]]:
    """``{"pkg.Service.Method": (input type, output type)}`` as a fresh client resolves them."""
    resolved: dict[str, tuple[str, str]] = {}
    with grpc.insecure_channel(address) as channel:
        database, pool = _fresh_pool(channel)
        services = database.get_services()
        assert "ipcoord.v1.CaseIntake" in services
        for service_name in services:
            service = pool.FindServiceByName(service_name)
            assert service.methods, service_name
            for method in service.methods:
                # What grpcurl/ghz do: ask the server for the method symbol first.
                method_db, method_pool = _fresh_pool(channel)
                file_proto = method_db.FindFileContainingSymbol(method.full_name)
                assert file_proto.name == service.file.name
                found = method_pool.FindMethodByName(method.full_name)
                input_type = method_pool.FindMessageTypeByName(found.input_type.full_name)
                output_type = method_pool.FindMessageTypeByName(found.output_type.full_name)
                resolved[method.full_name] = (input_type.full_name, output_type.full_name)
    return resolved


async def test_every_registered_method_resolves_through_reflection(server):
    resolved = await asyncio.to_thread(_every_method, f"127.0.0.1:{server.port}")
    assert resolved["ipcoord.v1.CaseIntake.GetCase"] == (
        "ipcoord.v1.GetCaseRequest",
        "ipcoord.v1.CaseView",
    )
    assert resolved["grpc.health.v1.Health.Check"] == (
        "grpc.health.v1.HealthCheckRequest",
        "grpc.health.v1.HealthCheckResponse",
    )
    assert "grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo" in resolved
    intake_methods = {name for name in resolved if name.startswith("ipcoord.v1.CaseIntake.")}
    assert len(intake_methods) > 1


async def test_method_symbol_answer_names_the_request_and_unknown_symbols_stay_not_found(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        requests = [
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
            for symbol in (
                "ipcoord.v1.CaseIntake.GetCase",
                "ipcoord.v1.CaseIntake.NoSuchMethod",
                "ipcoord.v1.NoSuchService.GetCase",
            )
        ]
        found, no_method, no_service = [r async for r in stub.ServerReflectionInfo(iter(requests))]
    assert found.original_request.file_containing_symbol == "ipcoord.v1.CaseIntake.GetCase"
    assert found.file_descriptor_response.file_descriptor_proto
    for response in (no_method, no_service):
        assert response.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def _call_get_case_by_reflection(address: str) -> str:
    """Call GetCase with message classes built only from reflected descriptors."""
    with grpc.insecure_channel(address) as channel:
        database, pool = _fresh_pool(channel)
        database.FindFileContainingSymbol("ipcoord.v1.CaseIntake.GetCase")
        method = pool.FindMethodByName("ipcoord.v1.CaseIntake.GetCase")
        request_cls = message_factory.GetMessageClass(method.input_type)
        reply_cls = message_factory.GetMessageClass(method.output_type)
        rpc = channel.unary_unary(
            f"/{method.containing_service.full_name}/{method.name}",
            request_serializer=request_cls.SerializeToString,
            response_deserializer=reply_cls.FromString,
        )
        reply = rpc(request_cls(), metadata=(("x-ipcoord-bureau", "cnipa"),), timeout=10)
        return reply.case_id


async def test_a_method_resolved_by_reflection_can_be_called(server):
    case_id = await asyncio.to_thread(_call_get_case_by_reflection, f"127.0.0.1:{server.port}")
    assert case_id == "cnipa"
