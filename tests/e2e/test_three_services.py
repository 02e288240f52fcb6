"""Intake, credit records and notifications together on the real broker, through their real
topics: a bureau's submissions become cases, two established decisions list the respondent, the
implementing departments hear of the listing and report back, and every party's notifications
and lookups agree."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from ipcoord.credit.main import build as build_credit
from ipcoord.intake.main import build as build_intake
from ipcoord.notifications.main import build as build_notifications
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import credit_pb2_grpc, intake_pb2_grpc, notifications_pb2_grpc
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import notifications_pb2 as N
from support.callers import Caller
from support.clock import ManualClock
from support.kafka import eventually
from support.reports import RIGHT_HOLDER, report, uscc

RESPONDENT = uscc(91)


@pytest.fixture
async def system(settings):
    clock = ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    local = settings.model_copy(update={"operators": frozenset({"cnipa"})})
    services = [
        await build_intake(local, clock=clock, tick_interval_s=3600),
        await build_credit(local, clock=clock, tick_interval_s=3600),
        await build_notifications(local),
    ]
    for service in services:
        await service.handle.start()
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{s.grpc_port}") for s in services]
    stubs = (
        intake_pb2_grpc.CaseIntakeStub,
        credit_pb2_grpc.CreditRecordsStub,
        notifications_pb2_grpc.NotificationsStub,
    )
    yield [
        (lambda bureau, stub=stub, channel=channel: Caller(stub(channel), bureau))
        for stub, channel in zip(stubs, channels, strict=True)
    ]
    for channel in channels:
        await channel.close()
    for service in reversed(services):
        await service.handle.stop()


async def _decided_case(ipb, ref: str) -> str:
    filed = await ipb.SubmitReport(
        S.SubmitReportRequest(report=report(ref, respondent_uscc=RESPONDENT))
    )
    case_id = filed.case_id
    await ipb.AcceptCase(S.AcceptCase(case_id=case_id))
    await ipb.AssignCase(S.AssignCase(case_id=case_id, assignee="inspector-1"))
    await ipb.StartInvestigation(S.StartInvestigation(case_id=case_id))
    await ipb.DecideCase(
        S.DecideCase(
            case_id=case_id,
            decision=S.Decision(
                infringement_established=True, infringement_type=1, respondent_uscc=RESPONDENT
            ),
        )
    )
    return case_id


async def _types(notifications, recipient: str) -> list[str]:
    try:
        page = await notifications.ListNotifications(
            N.ListNotificationsRequest(recipient=recipient, page={"page_size": 500})
        )
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.UNAVAILABLE:
            raise
        return []
    return [n.record.source_event_type for n in reversed(page.notifications)]


async def test_submission_to_listing_to_feedback_reaches_every_party(system):
    intake_as, credit_as, notifications_as = system
    ipb = intake_as("ipb-sz")
    operator = notifications_as("cnipa")
    # Two established infringements by one respondent: the first case closed before the
    # second report, which would otherwise be linked to it (source tracing).
    first = await _decided_case(ipb, "E2E-1")
    await ipb.CloseCase(S.CloseCase(case_id=first, reason="penalty paid"))
    second = await _decided_case(ipb, "E2E-2")
    assert first != second

    async def listed() -> C.CheckDisciplineResponse | None:
        answer = await credit_as("amr-sz").CheckDiscipline(
            C.CheckDisciplineRequest(uscc=RESPONDENT)
        )
        return answer if answer.applies else None

    listing = await eventually(listed, timeout_s=60)
    assert listing.listing_id == f"L-{RESPONDENT}-1"

    # Every implementing department hears of the listing; ndrc reports what it did.
    for department in ("cnipa", "ndrc", "mof"):
        await eventually(
            lambda d=department: _has(operator, d, "SeriousDishonestyListed"), timeout_s=60
        )
    feedback = await credit_as("ndrc").SubmitFeedback(
        C.DisciplineFeedbackSubmitted(
            listing_id=listing.listing_id,
            measure_code="NDRC-01",
            outcome=C.MEASURE_OUTCOME_APPLIED,
        )
    )
    assert [f.measure_code for f in feedback.feedback] == ["NDRC-01"]

    # The handling bureau heard its cases' whole lifecycles, the right holder both decisions.
    bureau = notifications_as("ipb-sz")
    await eventually(lambda: _has(bureau, "ipb-sz", "CaseDecided", count=2))
    handled = await _types(bureau, "ipb-sz")
    assert handled.count("CaseFiled") == 2 and handled.count("CaseDecided") == 2
    assert "CaseClosed" in handled
    await eventually(lambda: _has(operator, RIGHT_HOLDER, "CaseDecided", count=2))
    assert set(await _types(operator, RIGHT_HOLDER)) == {"CaseDecided"}
    # And a bureau with no part in any of it heard nothing.
    assert await _types(notifications_as("customs-gz"), "customs-gz") == []
    case = await ipb.GetCase(S.GetCaseRequest(case_id=second))
    assert case.status == S.CASE_STATUS_DECIDED


async def _has(caller, recipient: str, event_type: str, count: int = 1) -> bool:
    return (await _types(caller, recipient)).count(event_type) >= count
