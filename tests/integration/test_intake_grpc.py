"""Intake over gRPC against the real broker: submission, lifecycle, refusals."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ipcoord.v1 import intake_pb2 as S
from support.reports import report, uscc


async def test_submit_is_idempotent_and_lifecycle_runs_to_closed(as_bureau):
    ipb = as_bureau("ipb-sz")
    first = await ipb.SubmitReport(
        S.SubmitReportRequest(report=report("R-1", respondent_uscc=uscc(1)))
    )
    assert first.outcome == S.SUBMISSION_OUTCOME_FILED and not first.duplicate
    for _ in range(3):
        again = await ipb.SubmitReport(
            S.SubmitReportRequest(report=report("R-1", respondent_uscc=uscc(1)))
        )
        assert again.case_id == first.case_id and again.duplicate
    case_id = first.case_id
    view = await ipb.AcceptCase(S.AcceptCase(case_id=case_id))
    assert view.status == S.CASE_STATUS_ACCEPTED
    await ipb.AssignCase(S.AssignCase(case_id=case_id, assignee="inspector-7"))
    await ipb.StartInvestigation(S.StartInvestigation(case_id=case_id))
    decided = await ipb.DecideCase(
        S.DecideCase(
            case_id=case_id,
            decision=S.Decision(
                infringement_established=True,
                infringement_type=2,
                respondent_uscc=uscc(1),
                penalty="fine",
                fine_cny=50000,
            ),
        )
    )
    assert decided.status == S.CASE_STATUS_DECIDED
    closed = await ipb.CloseCase(S.CloseCase(case_id=case_id, reason="penalty paid"))
    assert closed.status == S.CASE_STATUS_CLOSED
    history = [h.event_type for h in (await ipb.GetCase(S.GetCaseRequest(case_id=case_id))).history]
    assert history == [
        "ipcoord.v1.CaseFiled",
        "ipcoord.v1.CaseAccepted",
        "ipcoord.v1.CaseAssigned",
        "ipcoord.v1.InvestigationStarted",
        "ipcoord.v1.CaseDecided",
        "ipcoord.v1.CaseClosed",
    ]


async def test_refusals_have_precise_status(as_bureau):
    ipb, amr = as_bureau("ipb-sz"), as_bureau("amr-sz")
    filed = await ipb.SubmitReport(
        S.SubmitReportRequest(report=report("R-2", respondent_uscc=uscc(2)))
    )
    with pytest.raises(grpc.aio.AioRpcError) as illegal:
        await ipb.CloseCase(S.CloseCase(case_id=filed.case_id))
    assert illegal.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "case" in illegal.value.details() and "filed" in illegal.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await amr.AcceptCase(S.AcceptCase(case_id=filed.case_id))
    assert foreign.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await ipb.GetCase(S.GetCaseRequest(case_id="nope"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND

    bad = report("R-3", respondent_uscc="91440300708461136X", division="4403")
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await ipb.SubmitReport(S.SubmitReportRequest(report=bad))
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(invalid.value)
    detail = error_details_pb2.BadRequest()
    status.details[0].Unpack(detail)
    fields = {v.field: v.description for v in detail.field_violations}
    assert "check character" in fields["respondents[0].entity.uscc"]
    assert "division_code" in fields


async def test_linking_by_uscc_shop_and_identified_seller(as_bureau):
    ipb, monitor = as_bureau("ipb-sz"), as_bureau("monitor-cnipa")
    by_uscc = await ipb.SubmitReport(
        S.SubmitReportRequest(report=report("A", respondent_uscc=uscc(5)))
    )
    same = await monitor.SubmitReport(
        S.SubmitReportRequest(report=report("M-1", respondent_uscc=uscc(5), handling="ipb-sz"))
    )
    assert same.outcome == S.SUBMISSION_OUTCOME_LINKED and same.case_id == by_uscc.case_id

    shop = await ipb.SubmitReport(
        S.SubmitReportRequest(report=report("B", shop="https://www.shop.example/s/9/"))
    )
    same_shop = await monitor.SubmitReport(
        S.SubmitReportRequest(
            report=report("M-2", shop="HTTP://shop.example/s/9?ref=feed", handling="ipb-sz")
        )
    )
    assert same_shop.case_id == shop.case_id

    seller = await ipb.SubmitReport(S.SubmitReportRequest(report=report("C", seller="s-77")))
    linked = await ipb.IdentifyRespondent(
        S.IdentifyRespondent(
            online_identifier={"platform": "taobao", "seller_id": "s-77"},
            entity={"uscc": uscc(5), "name": "Respondent Co."},
        )
    )
    assert {(link.case_id, link.linked_case_id) for link in linked.links} == {
        (seller.case_id, by_uscc.case_id),
        (by_uscc.case_id, seller.case_id),
    }
    history = await ipb.GetRespondentHistory(S.GetRespondentHistoryRequest(uscc=uscc(5)))
    assert {c.case_id for c in history.cases} == {by_uscc.case_id, seller.case_id}
    view = await ipb.GetCase(S.GetCaseRequest(case_id=by_uscc.case_id))
    assert seller.case_id in {link.case_id for link in view.links}
    assert "monitor-cnipa/M-1" in view.linked_reports


async def test_list_cases_filters_and_pages(as_bureau):
    ipb, amr = as_bureau("ipb-sz"), as_bureau("amr-sz")
    mine = set()
    for i in range(5):
        reply = await ipb.SubmitReport(
            S.SubmitReportRequest(report=report(f"L-{i}", respondent_uscc=uscc(80 + i)))
        )
        mine.add(reply.case_id)
    theirs = await amr.SubmitReport(
        S.SubmitReportRequest(report=report("L-A", respondent_uscc=uscc(90)))
    )
    await amr.AcceptCase(S.AcceptCase(case_id=theirs.case_id))

    seen, token = [], ""
    while True:
        page = await ipb.ListCases(
            S.ListCasesRequest(bureau="ipb-sz", page={"page_size": 2, "page_token": token})
        )
        assert len(page.cases) <= 2
        seen += [c.case_id for c in page.cases]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(mine)
    accepted = await ipb.ListCases(S.ListCasesRequest(status=S.CASE_STATUS_ACCEPTED))
    assert [c.case_id for c in accepted.cases] == [theirs.case_id]
    by_respondent = await ipb.ListCases(S.ListCasesRequest(respondent_uscc=uscc(90)))
    assert [c.case_id for c in by_respondent.cases] == [theirs.case_id]
