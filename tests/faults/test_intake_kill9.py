"""kill -9 under load, in the production configuration: `ipcoord serve intake` with the rocksdb
store, killed twice while it works through a pre-loaded submissions topic, then restarted.
Every submission must end with exactly one filed / linked / rejected fact once repeats are
dropped by event id (the contract for consumers: docs/intake.md), and the service's answer
for every case must agree with the facts."""

from __future__ import annotations

import time
from collections import Counter

import grpc
from ipcoord.platform import codec
from ipcoord.platform.topics import CASES, INTAKE_SUBMISSIONS
from ipcoord.v1 import intake_pb2, intake_pb2_grpc
from support.kafka import produce_envelopes, read_envelopes, records_published
from support.reports import report, uscc
from support.serving import Replica, wait_for

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


class _Quiet:
    """True once no new fact has appeared for ``seconds``: the service did all it will do
    (so a run that lost submissions ends with figures instead of a time-out)."""

    def __init__(self, settings, seconds: float) -> None:
        self._settings, self._seconds = settings, seconds
        self._count, self._since = -1, time.monotonic()

    def __call__(self) -> bool:
        count = records_published(self._settings, CASES)
        if count != self._count:
            self._count, self._since = count, time.monotonic()
        return time.monotonic() - self._since > self._seconds


def test_kill_9_under_load_loses_and_duplicates_nothing(settings, tmp_path):
    submissions = _submissions()
    produce_envelopes(settings, INTAKE_SUBMISSIONS, submissions)  # loaded before the service

    kills = 0
    service = Replica(settings, "intake", tmp_path, "intake-k9")
    for target in (SUBMISSIONS // 3, 2 * SUBMISSIONS // 3):
        wait_for(lambda t=target: records_published(settings, CASES) >= t, [service], 180)
        service.kill()
        kills += 1
        service.restart()
    try:
        service.wait_serving()
        outcome_of: dict[str, set[str]] = {}

        def every_submission_answered() -> bool:
            outcome_of.clear()
            for fact in read_envelopes(settings, CASES, timeout_s=1.0):
                if fact.WhichOneof("body") in OUTCOMES:
                    outcome_of.setdefault(fact.causation_id, set()).add(fact.event_id)
            return len(outcome_of) >= SUBMISSIONS

        quiet = _Quiet(settings, 15)
        wait_for(lambda: every_submission_answered() or quiet(), [service], 240)
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
        _check_answers_agree_with_facts(facts, service.address)
    finally:
        service.stop()


def _check_answers_agree_with_facts(facts: list[codec.Envelope], address: str) -> None:
    """GetCase after the crashes: each case's linked-report count is what the facts say."""
    unique = {f.event_id: f for f in facts}.values()
    filed = [f.case_filed.case_id for f in unique if f.WhichOneof("body") == "case_filed"]
    links = Counter(
        f.report_linked.case_id for f in unique if f.WhichOneof("body") == "report_linked"
    )
    with grpc.insecure_channel(address) as channel:
        stub = intake_pb2_grpc.CaseIntakeStub(channel)
        for case_id in filed[:: max(1, len(filed) // 200)]:
            view = stub.GetCase(
                intake_pb2.GetCaseRequest(case_id=case_id),
                metadata=(("x-ipcoord-bureau", "ipb-sz"),),
                timeout=10,
            )
            assert view.linked_report_count == links[case_id], case_id
