"""Intake's writers without a broker (support/intake_writers.py): redelivery, redo after a
crash, refusals kept for waiting callers, replies in parts, a reused event id. Tables are
dicts; the journals are on disk as in the service."""

from __future__ import annotations

import asyncio

import pytest
from ipcoord.intake.domain import case_id_for, indexes
from ipcoord.intake.state import Submission
from ipcoord.platform import codec
from ipcoord.v1 import common_pb2
from ipcoord.v1 import intake_pb2 as S
from support.intake_writers import SUBMISSIONS as TOPIC
from support.intake_writers import IntakeWriters
from support.reports import report, uscc


class Service(IntakeWriters):
    """One replica's two writers (support/intake_writers.py)."""

    async def handle(self, env: codec.Envelope, offset: int, reply_to: str | None = None):
        await self.submit(env, offset, reply_to)

    @property
    def processor(self):
        return self.matcher

    @property
    def journal(self):
        return self.journals[0]


def _submission(ref: str, n: int) -> codec.Envelope:
    rpt = report(ref, respondent_uscc=uscc(n))
    return codec.envelope(rpt, producer_bureau="ipb-sz", subject_key=f"ipb-sz/{ref}")


async def test_a_redelivered_command_publishes_its_recorded_facts_again_and_changes_nothing(
    tmp_path,
):
    service = Service({}, tmp_path / "replica")
    first = _submission("P-1", 1)
    await service.handle(first, 0)

    def tables():
        return [
            {name: dict(table) for name, table in vars(state).items()}
            for state in (service.matcher_state, service.state)
        ]

    before = tables()
    await service.handle(first, 0)  # the same record again
    assert [e.event_id for e in service.published[1:]] == [
        e.event_id for e in service.published[:1]
    ]
    assert tables() == before


async def test_after_a_crash_uncommitted_entries_are_applied_again(tmp_path):
    tables: dict = {}
    service = Service(tables, tmp_path / "replica")
    await service.handle(_submission("P-1", 1), 0)
    await service.handle(_submission("P-2", 2), 1)
    service.close(clean=False)  # kill -9
    # What a crash can leave: a key the changelog replay rolled back, one never written.
    case_2 = case_id_for("ipb-sz", "P-2")
    lost_case = tables["matcher"]["cases"].pop(case_2)
    lost_submission = tables["matcher"]["submissions"].pop("ipb-sz/P-2")

    restarted = Service(tables, tmp_path / "replica")
    assert restarted.processor.needs_redo
    # P-1 was committed (next offset 1): only P-2's entry is applied again.
    assert restarted.processor.redo_uncommitted({(TOPIC, 0): 1}) == 1
    # The journal's copies (each in its table's encoding) are the values that were written.
    assert tables["matcher"]["cases"][case_2] == lost_case
    assert tables["matcher"]["submissions"]["ipb-sz/P-2"] == lost_submission
    await restarted.handle(_submission("P-3", 2), 2)  # P-2's respondent
    assert not restarted.processor.needs_redo
    # The indexes were rebuilt after the redo: the report joins the case put back.
    assert restarted.published[-1].event_type == "ipcoord.v1.ReportLinked"
    assert restarted.published[-1].subject_key == case_2


def _fact_types(service: Service, since: int) -> list[str]:
    return service.facts(since)


async def test_a_replica_that_gains_the_partition_traces_against_cases_it_never_handled(
    tmp_path,
):
    tables: dict = {}
    first = Service(tables, tmp_path / "first")
    await first.handle(_submission("P-1", 1), 0)
    # The tables as the changelog gives them to the next owner; its indexes start empty.
    second = Service(tables, tmp_path / "second")
    await second.handle(_submission("P-2", 1), 1)  # the same respondent
    assert _fact_types(second, 0) == ["ipcoord.v1.ReportLinked"]


async def test_indexes_marked_stale_are_rebuilt_from_cases_written_elsewhere(tmp_path):
    tables: dict = {}
    owner = Service(tables, tmp_path / "owner")
    await owner.handle(_submission("P-1", 1), 0)
    # A rebalance: another replica owned the partition for a while and filed P-2.
    await Service(tables, tmp_path / "other").handle(_submission("P-2", 2), 1)
    owner.processor.tables_changed()  # the partition is assigned back
    await owner.handle(_submission("P-3", 2), 2)
    assert _fact_types(owner, 1) == ["ipcoord.v1.ReportLinked"]
    assert owner.published[-1].subject_key == case_id_for("ipb-sz", "P-2")


async def test_a_clean_stop_needs_no_redo(tmp_path):
    service = Service({}, tmp_path / "replica")
    await service.handle(_submission("P-1", 1), 0)
    service.close(clean=True)
    assert not Service({}, tmp_path / "replica").processor.needs_redo


def _answers(service: Service, since: int = 0) -> list:
    """The writers' replies since the ``since``-th: the matcher's (part 0) before the parts."""
    return sorted((reply for _, reply in service.replies[since:]), key=lambda r: r.part)


async def test_the_caller_gets_its_answer_and_the_same_refusal_on_a_redelivery(tmp_path):
    service = Service({}, tmp_path / "replica")
    first = _submission("P-1", 1)
    await service.handle(first, 0, reply_to="replica-a")
    # In two parts: the matcher's answer, and the case partition's once the case is filed.
    filed, applied = _answers(service)
    assert {replica for replica, _ in service.replies} == {"replica-a"}
    assert filed.command_event_id == applied.command_event_id == first.event_id
    assert (filed.part, filed.parts, applied.part, applied.parts) == (0, 2, 1, 2)
    answer = S.SubmitReportResponse()
    assert filed.result.Unpack(answer) and answer.case_id == case_id_for("ipb-sz", "P-1")
    assert answer.outcome == S.SUBMISSION_OUTCOME_FILED and not answer.duplicate

    changed = _submission("P-1", 2)  # same reference, different report
    for offset in (1, 1):  # handled, then delivered again
        await service.handle(changed, offset, reply_to="replica-b")
    refusals = [reply.refusal for _, reply in service.replies[2:]]
    assert [r.code for r in refusals] == [common_pb2.REFUSAL_CODE_ALREADY_EXISTS] * 2
    assert {r.resource_name for r in refusals} == {case_id_for("ipb-sz", "P-1")}
    assert all(reply.parts == 0 for _, reply in service.replies[2:])  # the matcher's alone
    rejections = [e for e in service.published if e.WhichOneof("body") == "submission_rejected"]
    assert len({e.event_id for e in rejections}) == 1 and len(rejections) == 2
    assert rejections[0].submission_rejected.violations[0].field == "external_ref"
    seen = len(service.replies)
    await service.handle(first, 0, reply_to="replica-a")  # redelivered: the first answer again
    assert _answers(service, seen)[0].result == filed.result
    retry = _submission("P-1", 1)  # a caller's retry: a new command with the same report
    seen = len(service.replies)
    await service.handle(retry, 2, reply_to="replica-a")
    duplicate, after_the_first = _answers(service, seen)
    duplicate.result.Unpack(answer)
    assert answer.duplicate and answer.case_id == case_id_for("ipb-sz", "P-1")
    assert after_the_first.part == 1  # answered once the first submission's case is applied


async def test_an_event_id_reused_for_a_different_command_is_refused_not_dropped(tmp_path):
    service = Service({}, tmp_path / "replica")
    first = _submission("P-1", 1)
    await service.handle(first, 0)
    other = _submission("P-2", 2)
    other.event_id = first.event_id  # another sender's command under a taken id
    with pytest.raises(codec.InvalidEnvelope) as refused:
        await service.handle(other, 1)
    assert refused.value.error_class == "DuplicateEventId"
    # The same command sent again by its sender (another offset) is a duplicate, not an error.
    await service.handle(first, 2)
    assert [e.event_type for e in service.published] == ["ipcoord.v1.CaseFiled"] * 2


async def test_a_bug_half_way_leaves_nothing_staged_for_the_next_command(tmp_path, monkeypatch):
    service = Service({}, tmp_path / "replica")
    import ipcoord.intake.processor as processor_module

    def broken(*args, **kwargs):
        service.matcher_state.submissions["half-written"] = Submission("x", "y")
        raise RuntimeError("a bug")

    monkeypatch.setattr(processor_module, "decide", broken)
    with pytest.raises(RuntimeError):
        await service.handle(_submission("P-1", 1), 0)
    monkeypatch.undo()
    await service.handle(_submission("P-2", 2), 1)
    assert "half-written" not in service.matcher_state.submissions
    assert service.state.cases[case_id_for("ipb-sz", "P-2")].status == S.CASE_STATUS_FILED


async def test_a_bug_in_evolve_leaves_no_cached_value_changed_in_place(tmp_path, monkeypatch):
    service = Service({}, tmp_path / "replica")
    await service.handle(_submission("P-1", 1), 0)
    case_id = case_id_for("ipb-sz", "P-1")
    import ipcoord.intake.processor as processor_module

    def broken(state, event, meta):
        state.cases[case_id].assignee = "changed in place"  # the cached object itself
        raise RuntimeError("a bug")

    monkeypatch.setattr(processor_module, "evolve", broken)
    with pytest.raises(RuntimeError):
        await service.handle(_submission("P-2", 2), 1)
    monkeypatch.undo()
    assert service.matcher_state.cases[case_id].assignee == ""


async def test_a_rebuild_lets_the_loop_run_and_starts_again_when_the_tables_change(
    tmp_path, monkeypatch, caplog
):
    import ipcoord.intake.processor as processor_module

    monkeypatch.setattr(processor_module, "REBUILD_SLICE", 1)  # a turn of the loop per case
    service = Service({}, tmp_path / "replica")
    for n in range(3):
        await service.handle(_submission(f"P-{n}", n), n)
    processor = service.processor
    processor.tables_changed()  # an assignment
    assert not processor.indexes_ready
    caplog.set_level("INFO", logger="ipcoord.platform.processor")
    processor.start_rebuilding()  # what a lookup does; it is told UNAVAILABLE meanwhile
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not processor.indexes_ready  # under way, and the loop turns
    processor.tables_changed()  # another rebalance during the rebuild
    await processor._rebuilding
    assert processor.indexes_ready
    assert sum("derived indexes rebuilt" in r.message for r in caplog.records) == 2
    await service.handle(_submission("P-9", 2), 9)  # P-2's respondent: traced
    assert service.published[-1].event_type == "ipcoord.v1.ReportLinked"


async def test_a_rebuild_that_fails_stops_the_process_instead_of_dead_lettering_commands(
    tmp_path, monkeypatch
):
    stopped: list[BaseException] = []

    def fail_stop(exc: BaseException) -> None:
        stopped.append(exc)
        raise SystemExit(70)  # what platform.failstop does, without ending the test run

    service = Service({}, tmp_path / "replica", fail_stop=fail_stop)
    await service.handle(_submission("P-1", 1), 0)
    service.processor.tables_changed()  # an assignment

    def unreadable(state, case):
        raise ValueError("a case that cannot be read")

    monkeypatch.setattr(indexes, "add_case", unreadable)
    second = _submission("P-2", 2)
    with pytest.raises(SystemExit):
        await service.handle(second, 1)
    assert [str(e) for e in stopped] == ["a case that cannot be read"]
    assert service.journal.get(second.event_id) is None  # not handled: redelivered at restart
