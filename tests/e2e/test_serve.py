"""`ipcoord serve <service>` as an operator runs it: NOT_SERVING until ready, then SERVING, its
gRPC service listed by reflection, a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from support.serving import free_port


@pytest.mark.parametrize(
    ("service", "grpc_service"),
    [
        ("intake", "ipcoord.v1.CaseIntake"),
        ("credit", "ipcoord.v1.CreditRecords"),
        ("notifications", "ipcoord.v1.Notifications"),
    ],
)
async def test_serve_health_and_reflection(settings, tmp_path, service, grpc_service):
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "IPCOORD_TOPIC_PREFIX": settings.topic_prefix,
        "IPCOORD_GRPC_PORT": str(port),
        "IPCOORD_DATA_DIR": str(tmp_path),
        "IPCOORD_INSECURE_DEV_IDENTITY": "true",
    }
    log = tmp_path / f"{service}.log"  # a file, not a pipe: a full pipe would block the service
    process = subprocess.Popen(  # noqa: ASYNC220 - the service must run in its own process
        [str(Path(sys.executable).parent / "ipcoord"), "serve", service],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            status = None
            for _ in range(300):
                try:
                    reply = await health.Check(
                        health_pb2.HealthCheckRequest(service=grpc_service), timeout=1
                    )
                    status = reply.status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.aio.AioRpcError:
                    pass
                assert process.poll() is None, log.read_text()[-3000:]
                await asyncio.sleep(0.2)
            assert status == health_pb2.HealthCheckResponse.SERVING
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            replies = [r async for r in stub.ServerReflectionInfo(iter([request]))]
            names = {s.name for s in replies[0].list_services_response.service}
            assert grpc_service in names
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0  # drained and stopped on SIGTERM
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    serving = [r for r in records if r["message"] == "serving"]
    assert serving and serving[0]["grpc_port"] == port  # JSON logs, one object per line
