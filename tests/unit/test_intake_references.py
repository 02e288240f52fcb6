"""A bureau's external reference is an idempotency key (issue 6, §2.4): the same report again
is a duplicate; a different report under a used reference is refused, naming the case."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ipcoord.intake.domain import (
    Command,
    Meta,
    Rules,
    case_id_for,
    decide,
    evolve,
    known_submission,
    report_digest,
)
from ipcoord.intake.state import IntakeState, Submission
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.errors import AlreadyExists
from ipcoord.platform.grpc_errors import abort_with
from ipcoord.v1 import intake_pb2 as S
from support.reports import report, uscc
from support.stores import each_store, fresh, snapshot  # noqa: F401  (each test once per store)

RULES = Rules(bureaus=BureauRegistry.demo())
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_n = 0


def run(state: IntakeState, body, actor="ipb-sz") -> list:
    global _n
    _n += 1
    events = decide(Command(body, actor, f"cmd-{_n}", T0), state, RULES)
    for i, event in enumerate(events):
        evolve(state, event, Meta(f"evt-{_n}-{i}", T0, actor))
    return events


def test_the_same_report_again_is_a_duplicate_and_a_different_one_is_refused():
    state = fresh()
    first = report("R1", respondent_uscc=uscc(1))
    run(state, first)
    case_id = case_id_for("ipb-sz", "R1")
    assert state.submissions["ipb-sz/R1"] == Submission(case_id, report_digest(first))

    assert run(state, report("R1", respondent_uscc=uscc(1))) == []  # a retry: same bytes
    assert known_submission(state, "ipb-sz", first) == case_id

    changed = report("R1", respondent_uscc=uscc(2))
    before = snapshot(state)
    with pytest.raises(AlreadyExists) as refused:
        run(state, changed)
    assert case_id in refused.value.reason and "'R1'" in refused.value.reason
    assert refused.value.resource_name == case_id
    assert snapshot(state) == before  # nothing of the new content was taken
    # Another bureau's reference of the same name is its own.
    assert [type(e).__name__ for e in run(state, changed, actor="amr-sz")] == ["CaseFiled"]


def test_a_linked_report_holds_its_reference_too():
    state = fresh()
    run(state, report("R1", respondent_uscc=uscc(7)))
    case_id = case_id_for("ipb-sz", "R1")
    hit = report("M1", respondent_uscc=uscc(7), handling="ipb-sz")
    [linked] = run(state, hit, actor="monitor-cnipa")
    assert isinstance(linked, S.ReportLinked) and linked.case_id == case_id

    assert (
        run(state, report("M1", respondent_uscc=uscc(7), handling="ipb-sz"), "monitor-cnipa") == []
    )
    assert state.cases[case_id].linked_report_count == 1
    other = report("M1", respondent_uscc=uscc(8), handling="ipb-sz")
    with pytest.raises(AlreadyExists, match=case_id) as refused:
        run(state, other, actor="monitor-cnipa")
    assert refused.value.resource_name == case_id  # the case it was linked into
    assert case_id_for("monitor-cnipa", "M1") not in state.cases


def test_a_replayed_fact_keeps_the_reference_and_its_digest():
    state = fresh()
    hit = report("M1", respondent_uscc=uscc(7), handling="ipb-sz")
    events = [*run(state, report("R1", respondent_uscc=uscc(7))), *run(state, hit, "monitor-cnipa")]
    for i, event in enumerate(events):
        evolve(state, event, Meta(f"again-{i}", T0, "x"))
    assert state.submissions["monitor-cnipa/M1"].digest == report_digest(hit)
    assert state.cases[case_id_for("ipb-sz", "R1")].linked_report_count == 1


class _Context:
    async def abort_with_status(self, status):
        self.status = status
        raise RuntimeError("aborted")


async def test_already_exists_reaches_grpc_as_already_exists_naming_the_case():
    context = _Context()
    error = AlreadyExists("taken by case c-1", resource_type="case", resource_name="c-1")
    with pytest.raises(RuntimeError):
        await abort_with(context, error)
    assert context.status.code == grpc.StatusCode.ALREADY_EXISTS
    assert "c-1" in context.status.details
    status = rpc_status.from_call(_Call(context.status))
    info = error_details_pb2.ResourceInfo()
    assert status.details[0].Unpack(info)
    assert (info.resource_type, info.resource_name) == ("case", "c-1")


class _Call:
    """What rpc_status.from_call reads of a finished call."""

    def __init__(self, status) -> None:
        self._status = status

    def code(self):
        return self._status.code

    def details(self):
        return self._status.details

    def trailing_metadata(self):
        return self._status.trailing_metadata
