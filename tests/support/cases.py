"""Case steps the e2e tests take through intake's gRPC API, as a bureau would."""

from __future__ import annotations

from ipcoord.v1 import intake_pb2 as S

from support.reports import RIGHT_HOLDER, report


async def decided_case(ipb, ref: str, *, respondent_uscc: str = "", shop: str = "") -> str:
    """A new case from report ``ref``, accepted, assigned, investigated and decided with an
    established infringement against ``respondent_uscc``; returns its id."""
    filed = await ipb.SubmitReport(
        S.SubmitReportRequest(report=report(ref, respondent_uscc=respondent_uscc, shop=shop))
    )
    assert filed.outcome == S.SUBMISSION_OUTCOME_FILED
    case_id = filed.case_id
    await ipb.AcceptCase(S.AcceptCase(case_id=case_id))
    await ipb.AssignCase(S.AssignCase(case_id=case_id, assignee="inspector-1"))
    await ipb.StartInvestigation(S.StartInvestigation(case_id=case_id))
    await ipb.DecideCase(
        S.DecideCase(
            case_id=case_id,
            decision=S.Decision(
                infringement_established=True,
                infringement_type=1,
                respondent_uscc=respondent_uscc,
            ),
        )
    )
    return case_id


async def fast_tracked(center, ref: str, respondent_uscc: str, holder: str = RIGHT_HOLDER) -> bool:
    """Whether a new report ``ref`` for ``holder``, filed with the center, is fast-tracked."""
    filed = await center.SubmitReport(
        S.SubmitReportRequest(report=report(ref, respondent_uscc=respondent_uscc, holder=holder))
    )
    return (await center.GetCase(S.GetCaseRequest(case_id=filed.case_id))).fast_tracked
