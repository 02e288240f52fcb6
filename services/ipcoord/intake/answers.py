"""What each gRPC command the matcher decides returns, built by the matcher right after it
applied the command, and carried back to the calling replica in the CommandReply
(platform/request_reply.py): part 0 of the reply, which the caller gets once each case
partition the command's facts went to has applied them. A case command's answer comes from
its case writer (processor.py)."""

from __future__ import annotations

from google.protobuf.message import Message

from ipcoord.intake.domain import action_progress, case_id_for
from ipcoord.intake.keys import submission_key
from ipcoord.intake.state import IntakeState
from ipcoord.platform import codec
from ipcoord.v1 import common_pb2
from ipcoord.v1 import intake_pb2 as S


def answer(command: Message, actor: str, facts: list[codec.Envelope], state: IntakeState):
    """The response message of the gRPC method that sent ``command``."""
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
    return None


def _submitted(report, actor: str, facts, state: IntakeState) -> S.SubmitReportResponse:
    case_id = state.submissions[submission_key(actor, report.external_ref)].case_id
    filed_here = case_id == case_id_for(actor, report.external_ref)
    return S.SubmitReportResponse(
        case_id=case_id,
        outcome=S.SUBMISSION_OUTCOME_FILED if filed_here else S.SUBMISSION_OUTCOME_LINKED,
        duplicate=not any(f.HasField("case_filed") or f.HasField("report_linked") for f in facts),
    )
