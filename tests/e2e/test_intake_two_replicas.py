"""Two `ipcoord serve intake` replicas in one consumer group: a write through either gRPC
server is answered, within a second, by the single writer (request-reply over Kafka); a lookup
on the replica without the writer's state says UNAVAILABLE, never a wrong NOT_FOUND."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import intake_pb2_grpc
from support.reports import report, uscc

_ME = (("x-ipcoord-bureau", "ipb-sz"),)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _replica(settings, tmp_path: Path, name: str) -> tuple[subprocess.Popen, int, Path]:
    port, log = _free_port(), tmp_path / f"{name}.log"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "IPCOORD_TOPIC_PREFIX": settings.topic_prefix,
        "IPCOORD_DATA_DIR": str(tmp_path / name),
        "IPCOORD_REPLICA_ID": name,
        "IPCOORD_GRPC_PORT": str(port),
        "IPCOORD_GRPC_HOST": "127.0.0.1",
        "IPCOORD_INSECURE_DEV_IDENTITY": "true",
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "ipcoord"), "serve", "intake"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return process, port, log


def _wait_serving(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 120
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                reply = health.Check(
                    health_pb2.HealthCheckRequest(service="ipcoord.v1.CaseIntake"), timeout=1
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise AssertionError(f"not serving: {log.read_text()[-3000:]}")


def test_writes_are_answered_on_either_replica(settings, tmp_path):
    replicas = [_replica(settings, tmp_path, name) for name in ("replica-a", "replica-b")]
    try:
        for process, port, log in replicas:
            _wait_serving(process, port, log)
        channels = [grpc.insecure_channel(f"127.0.0.1:{port}") for _, port, _ in replicas]
        stubs = [intake_pb2_grpc.CaseIntakeStub(channel) for channel in channels]
        stubs[0].SubmitReport(  # warm up both paths once before timing
            S.SubmitReportRequest(report=report("TWO-0", respondent_uscc=uscc(300))),
            metadata=_ME,
            timeout=30,
        )
        answers = []
        for i in range(1, 11):
            stub = stubs[i % 2]
            started = time.monotonic()
            answer = stub.SubmitReport(
                S.SubmitReportRequest(report=report(f"TWO-{i}", respondent_uscc=uscc(300 + i % 3))),
                metadata=_ME,
                timeout=5,
            )
            assert time.monotonic() - started < 1.0, f"answer {i} took too long"
            answers.append(answer)
        # uscc(300 + i % 3): TWO-3, -6, -9 repeat TWO-0's respondent; the rest file or link.
        assert [a.outcome == S.SUBMISSION_OUTCOME_FILED for a in answers] == [
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ]
        accepted = stubs[1].AcceptCase(
            S.AcceptCase(case_id=answers[0].case_id), metadata=_ME, timeout=5
        )
        assert accepted.status == S.CASE_STATUS_ACCEPTED  # the view, built by the writer

        outcomes = []
        for stub in stubs:
            try:
                view = stub.GetCase(
                    S.GetCaseRequest(case_id=answers[0].case_id), metadata=_ME, timeout=5
                )
                outcomes.append(view.status)
            except grpc.RpcError as error:
                outcomes.append(error.code())
        assert sorted(outcomes, key=str) == sorted(
            [S.CASE_STATUS_ACCEPTED, grpc.StatusCode.UNAVAILABLE], key=str
        )
        for channel in channels:
            channel.close()
    finally:
        for process, _, _ in replicas:
            process.send_signal(signal.SIGTERM)
        for process, _, log in replicas:
            assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
