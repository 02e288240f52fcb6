"""Kafka over TLS with client certificates, as on a Strimzi cluster (a KafkaUser with
`authentication: tls`): the local broker's second listener requires a client certificate
(deploy/local/kafka). `ipcoord serve` (Faust, its aiokafka clients) and the `ipcoord` command
(kafka-python) connect with the IPCOORD_KAFKA_SSL_* settings; without a certificate they are
refused, with a one-line error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
from click.testing import CliRunner
from ipcoord.cli import main
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import intake_pb2_grpc
from support.kafka_acls import local_client
from support.reports import report, uscc
from support.serving import Replica, until_available


def _tls_env(settings, address: str, directory: Path, *, with_certificate: bool) -> dict:
    env = local_client(directory).env(address, with_certificate=with_certificate)
    return {**env, "IPCOORD_TOPIC_PREFIX": settings.topic_prefix}


def test_a_service_and_the_command_work_over_kafka_tls(settings, tmp_path, tls_listener):
    address, directory = tls_listener
    env = _tls_env(settings, address, directory, with_certificate=True)
    replica = Replica(settings, "intake", tmp_path, "tls-replica", env=env)
    try:
        replica.wait_serving()
        with grpc.insecure_channel(replica.address) as channel:
            answer = until_available(
                intake_pb2_grpc.CaseIntakeStub(channel).SubmitReport,
                S.SubmitReportRequest(report=report("TLS-1", respondent_uscc=uscc(501))),
                metadata=(("x-ipcoord-bureau", "ipb-sz"),),
            )
        assert answer.outcome == S.SUBMISSION_OUTCOME_FILED
        tail = CliRunner().invoke(
            main, ["tail", "cases", "--from-beginning", "--type", "CaseFiled"], env=env
        )
        assert tail.exit_code == 0, tail.output
        assert answer.case_id in tail.stdout
    finally:
        replica.stop()


def test_without_a_client_certificate_the_broker_refuses_in_one_line(settings, tls_listener):
    address, directory = tls_listener
    env = _tls_env(settings, address, directory, with_certificate=False)

    # In its own process, as a user runs it: what kafka-python logs reaches the terminal too.
    refused = subprocess.run(
        [str(Path(sys.executable).parent / "ipcoord"), "topics", "describe"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert f"cannot reach Kafka at {address} over TLS without a client certificate" in line
