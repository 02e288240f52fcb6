"""kill -9 under load, in the production configuration: `ipcoord serve intake` with the rocksdb
store, killed twice while it works through a pre-loaded submissions topic, then restarted.
Every submission must end with exactly one filed / linked / rejected fact once repeats are
dropped by event id (the contract for consumers: docs/intake.md), and the service's answer
for every case must agree with the facts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ipcoord.platform import codec
from ipcoord.platform.topics import CASES, INTAKE_SUBMISSIONS, full_name
from ipcoord.v1 import intake_pb2, intake_pb2_grpc
from kafka import KafkaConsumer, TopicPartition
from support.kafka import produce_envelopes, read_envelopes
from support.reports import report, uscc

SUBMISSIONS = 6000
OUTCOMES = {"case_filed", "report_linked", "submission_rejected"}


def _submissions() -> list[codec.Envelope]:
    """Repeat respondents (links), fresh ones (filings) and invalid reports (rejections)."""
    out = []
    for i in range(SUBMISSIONS):
        if i % 10 == 9:
            rpt = report(f"K9-{i}", respondent_uscc="91440300BAD")  # rejected
        else:
            rpt = report(f"K9-{i}", respondent_uscc=uscc(100_000 + i % 1500), seller=f"s{i % 900}")
        out.append(
            codec.envelope(rpt, producer_bureau="ipb-sz", subject_key=f"ipb-sz/{rpt.external_ref}")
        )
    return out


def _facts_published(settings) -> int:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    try:
        topic = full_name(CASES, settings.topic_prefix)
        parts = [TopicPartition(topic, p) for p in range(CASES.partitions)]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


class _Quiet:
    """True once no new fact has appeared for ``seconds``: the service did all it will do
    (so a run that lost submissions ends with figures instead of a time-out)."""

    def __init__(self, settings, seconds: float) -> None:
        self._settings, self._seconds = settings, seconds
        self._count, self._since = -1, time.monotonic()

    def __call__(self) -> bool:
        count = _facts_published(self._settings)
        if count != self._count:
            self._count, self._since = count, time.monotonic()
        return time.monotonic() - self._since > self._seconds


class Supervisor:
    """Runs `ipcoord serve intake` as Kubernetes would: a process that fail-stops (exit 70,
    for instance when Faust skipped records at start, platform/continuity.py) is started
    again; any other exit fails the test."""

    # The continuity guard's safety net; since platform/faust_patches.py it has not fired here.
    MAX_FAIL_STOPS = 3

    def __init__(self, settings, data_dir: Path, log: Path, port: int) -> None:
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "IPCOORD_TOPIC_PREFIX": settings.topic_prefix,
            "IPCOORD_STORE": "rocksdb://",
            "IPCOORD_DATA_DIR": str(data_dir),
            "IPCOORD_GRPC_PORT": str(port),
            "IPCOORD_GRPC_HOST": "127.0.0.1",
            "IPCOORD_INSECURE_DEV_IDENTITY": "true",
        }
        self.log = log
        self.fail_stops = 0
        self.process = self._start()

    def _start(self) -> subprocess.Popen:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "ipcoord"), "serve", "intake"],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def keep_running(self) -> None:
        code = self.process.poll()
        if code is None:
            return
        assert code == 70, f"exit {code}: {self.log.read_text()[-3000:]}"
        self.fail_stops += 1
        assert self.fail_stops <= self.MAX_FAIL_STOPS, self.log.read_text()[-3000:]
        self.process = self._start()

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no drain, no commit, no flush
        self.process.wait()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=60) == 0, self.log.read_text()[-3000:]


def _serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="ipcoord.v1.CaseIntake"), timeout=1
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def _wait_for(predicate, service: Supervisor, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        service.keep_running()
        assert time.monotonic() < deadline, f"not reached in {timeout_s}s"
        time.sleep(0.05)


def test_kill_9_under_load_loses_and_duplicates_nothing(settings, tmp_path, unused_tcp_port):
    submissions = _submissions()
    produce_envelopes(settings, INTAKE_SUBMISSIONS, submissions)  # loaded before the service
    data, log = tmp_path / "data", tmp_path / "intake.log"

    kills = 0
    for target in (SUBMISSIONS // 3, 2 * SUBMISSIONS // 3):
        service = Supervisor(settings, data, log, unused_tcp_port)
        _wait_for(lambda t=target: _facts_published(settings) >= t, service, 180)
        service.kill()
        kills += 1

    service = Supervisor(settings, data, log, unused_tcp_port)
    try:
        _wait_for(lambda: _serving(unused_tcp_port), service, 120)
        outcome_of: dict[str, set[str]] = {}

        def every_submission_answered() -> bool:
            outcome_of.clear()
            for fact in read_envelopes(settings, CASES, timeout_s=1.0):
                if fact.WhichOneof("body") in OUTCOMES:
                    outcome_of.setdefault(fact.causation_id, set()).add(fact.event_id)
            return len(outcome_of) >= SUBMISSIONS

        quiet = _Quiet(settings, 15)
        _wait_for(lambda: every_submission_answered() or quiet(), service, 240)
        facts = read_envelopes(settings, CASES, timeout_s=1.0)
        by_id = Counter(f.event_id for f in facts)
        repeats = sum(n - 1 for n in by_id.values())
        lost = [s.event_id for s in submissions if s.event_id not in outcome_of]
        doubled = {c: ids for c, ids in outcome_of.items() if len(ids) != 1}
        print(
            f"kill -9 x{kills}: {SUBMISSIONS} submissions, {len(lost)} lost, "
            f"{len(doubled)} with two outcomes, {repeats} repeated records (same event id), "
            f"{service.fail_stops} fail-stop(s) after the last start"
        )
        assert not lost
        assert not doubled  # a repeat always carries the same event id
        _check_answers_agree_with_facts(facts, unused_tcp_port)
    finally:
        service.stop()


def _check_answers_agree_with_facts(facts: list[codec.Envelope], port: int) -> None:
    """GetCase after the crashes: each case's linked-report count is what the facts say."""
    unique = {f.event_id: f for f in facts}.values()
    filed = [f.case_filed.case_id for f in unique if f.WhichOneof("body") == "case_filed"]
    links = Counter(
        f.report_linked.case_id for f in unique if f.WhichOneof("body") == "report_linked"
    )
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = intake_pb2_grpc.CaseIntakeStub(channel)
        for case_id in filed[:: max(1, len(filed) // 200)]:
            view = stub.GetCase(
                intake_pb2.GetCaseRequest(case_id=case_id),
                metadata=(("x-ipcoord-bureau", "ipb-sz"),),
                timeout=10,
            )
            assert view.linked_report_count == links[case_id], case_id
