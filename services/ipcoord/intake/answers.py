"""What each gRPC command returns, built by the single writer right after it applied the
command, and carried back to the calling replica in the CommandReply (platform/request_reply.py).
Built there because only the writer is sure to hold the state the answer reads."""

from __future__ import annotations

from google.protobuf.message import Message

from ipcoord.intake.domain import action_progress
from ipcoord.intake.keys import submission_key
from ipcoord.intake.state import IntakeState
from ipcoord.intake.views import case_view
from ipcoord.platform import codec
from ipcoord.v1 import common_pb2
from ipcoord.v1 import intake_pb2 as S


def answer(command: Message, actor: str, facts: list[codec.Envelope], state: IntakeState):
    """The response message of the gRPC method that sent ``command``; None for commands no
    gRPC method sends (the clock's ticks)."""
    match command:
        case S.ReportSubmitted():
            return _submitted(command, actor, facts, state)
        case S.IdentifyRespondent():
            links = [codec.body_of(e) for e in facts if e.HasField("cases_linked")]
            return S.IdentifyRespondentResponse(links=links)
        case S.RegisterTargetEnterprise() | S.RemoveTargetEnterprise():
            targets = state.targets.get(actor, {})
            return S.TargetEnterpriseResponse(
                center=actor,
                targets=[common_pb2.Entity(uscc=u, name=n) for u, n in sorted(targets.items())],
            )
        case (
            S.LaunchSpecialAction()
            | S.JoinSpecialAction()
            | S.EnrollCases()
            | S.ConcludeSpecialAction()
        ):
            return action_progress(command.action_id, state)
        case S.CheckDeadlines():
            return None
    return case_view(state.cases[command.case_id], state)


def _submitted(report, actor: str, facts, state: IntakeState) -> S.SubmitReportResponse:
    held = state.submissions[submission_key(actor, report.external_ref)]
    case = state.cases[held.case_id]
    filed_here = (case.submitting_bureau, case.report.external_ref) == (actor, report.external_ref)
    return S.SubmitReportResponse(
        case_id=held.case_id,
        outcome=S.SUBMISSION_OUTCOME_FILED if filed_here else S.SUBMISSION_OUTCOME_LINKED,
        duplicate=not facts,
    )
