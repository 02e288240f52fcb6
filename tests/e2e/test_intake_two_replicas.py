"""Two `ipcoord serve intake` replicas in one consumer group: a write through either gRPC
server is answered, within a second, by the single writer (request-reply over Kafka); a lookup
on either replica is answered, by the writer's replica (forwarded there from the other)."""

from __future__ import annotations

import time

import grpc
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import intake_pb2_grpc
from support.reports import report, uscc
from support.serving import Replica, until_available

_ME = (("x-ipcoord-bureau", "ipb-sz"),)


def answered(call, request):
    return until_available(call, request, metadata=_ME)


def test_writes_and_lookups_are_answered_on_either_replica(settings, tmp_path):
    replicas = [Replica(settings, "intake", tmp_path, name) for name in ("replica-a", "replica-b")]
    try:
        for replica in replicas:
            replica.wait_serving()
        channels = [grpc.insecure_channel(replica.address) for replica in replicas]
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

        for stub in stubs:
            view = answered(stub.GetCase, S.GetCaseRequest(case_id=answers[0].case_id))
            assert view.status == S.CASE_STATUS_ACCEPTED
        for channel in channels:
            channel.close()
    finally:
        for replica in replicas:
            replica.stop()
