"""Two `ipcoord serve intake` replicas in one consumer group: a write through either gRPC
server is answered, within a second, by the writer that decides it (request-reply over
Kafka); every lookup on either replica is answered alike, from the partitions each replica
holds (the matcher's on one of them, the case partitions shared), filtered ListCases page by
page included; with either replica stopped, the other answers everything, writes included,
after the rebalance."""

from __future__ import annotations

import time

import grpc
from ipcoord.platform.topics import INTAKE_CASEWORK
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import intake_pb2_grpc
from support.kafka import records_published
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
        _launch_and_enrol(stubs, answers[0].case_id)
        seen = _every_lookup(stubs[0], answers[0].case_id)
        assert seen == _every_lookup(stubs[1], answers[0].case_id)

        # Either replica stopped (one of them is the writer): the other answers every lookup
        # and takes writes after the rebalance, with what it answered before.
        for stopped, left in ((0, 1), (1, 0)):
            replicas[stopped].stop()
            assert _every_lookup(stubs[left], answers[0].case_id) == seen
            moved = answered(stubs[left].AssignCase, _assign(answers[0].case_id, f"i-{stopped}"))
            assert moved.assignee == f"i-{stopped}"
            seen = _every_lookup(stubs[left], answers[0].case_id)
            replicas[stopped].restart()
            replicas[stopped].wait_serving()
        for channel in channels:
            channel.close()
    finally:
        for replica in replicas:
            replica.stop()


def _assign(case_id: str, assignee: str) -> S.AssignCase:
    return S.AssignCase(case_id=case_id, assignee=assignee)


def _launch_and_enrol(stubs, case_id: str) -> None:
    launch = S.LaunchSpecialAction(action_id="TWO-ACTION", title="two replicas")
    now = time.time()
    launch.starts_at.FromSeconds(int(now) - 3600)
    launch.ends_at.FromSeconds(int(now) + 86400)
    stubs[0].LaunchSpecialAction(launch, metadata=_ME, timeout=5)
    stubs[1].EnrollCases(
        S.EnrollCases(action_id="TWO-ACTION", case_ids=[case_id]), metadata=_ME, timeout=5
    )


def _pages(stub, request: S.ListCasesRequest) -> list[list[str]]:
    """Every page of a filtered ListCases, two cases a page."""
    pages, token = [], ""
    while True:
        request.page.page_size, request.page.page_token = 2, token
        page = answered(stub.ListCases, request)
        pages.append([c.case_id for c in page.cases])
        token = page.next_page_token
        if not token:
            return pages


def _every_lookup(stub, case_id: str) -> tuple:
    """What each lookup of intake answers, as comparable values."""
    case = answered(stub.GetCase, S.GetCaseRequest(case_id=case_id))
    history = answered(stub.GetRespondentHistory, S.GetRespondentHistoryRequest(uscc=uscc(300)))
    progress = answered(stub.GetActionProgress, S.GetActionProgressRequest(action_id="TWO-ACTION"))
    return (
        case.SerializeToString(deterministic=True),
        [c.case_id for c in history.cases],
        progress.SerializeToString(deterministic=True),
        _pages(stub, S.ListCasesRequest(bureau="ipb-sz")),
        _pages(stub, S.ListCasesRequest(bureau="ipb-sz", status=S.CASE_STATUS_FILED)),
        _pages(stub, S.ListCasesRequest(respondent_uscc=uscc(301))),
        _pages(stub, S.ListCasesRequest(action_id="TWO-ACTION")),
    )


def test_each_replica_ticks_the_case_partitions_it_owns(settings, tmp_path):
    """Each clock ticks every 0.5 s, once for each case partition its replica owns; with two
    replicas the six partitions get 2 ticks a second each (12 a second in all), not twice
    that (each replica ticking every partition)."""
    env = {"IPCOORD_DEADLINE_CHECK_INTERVAL_S": "0.5"}
    replicas = [
        Replica(settings, "intake", tmp_path, name, env=env) for name in ("clock-a", "clock-b")
    ]
    try:
        for replica in replicas:
            replica.wait_serving()
        before = records_published(settings, INTAKE_CASEWORK)
        time.sleep(6)
        ticks = records_published(settings, INTAKE_CASEWORK) - before
        assert 36 <= ticks <= 96, ticks  # each its own: 72; both every partition: 144
    finally:
        for replica in replicas:
            replica.stop()
