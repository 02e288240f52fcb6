"""CaseIntake gRPC servicer: identify the caller, validate, hand commands to the single writer
(through the submissions topic), read lookups from the tables. Thin by design."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.message import Message

from ipcoord.intake import matching
from ipcoord.intake.domain import Rules, action_progress, known_submission, submission_key
from ipcoord.intake.processor import Outcome, PendingReplies
from ipcoord.intake.state import IntakeState
from ipcoord.intake.validation import validate_report
from ipcoord.intake.views import case_view
from ipcoord.platform import codec
from ipcoord.platform.calendar import Clock
from ipcoord.platform.errors import DomainError, InvalidInput, NotFound, Violation
from ipcoord.platform.grpc_errors import abort_with
from ipcoord.platform.identity import IdentityResolver
from ipcoord.v1 import common_pb2, intake_pb2, intake_pb2_grpc

S = intake_pb2
_DEFAULT_PAGE = 50
_MAX_PAGE = 500

# (command envelope, caller's W3C traceparent or None) -> published
SendCommand = Callable[[codec.Envelope, str | None], Awaitable[None]]


def _traceparent(context: grpc.aio.ServicerContext) -> str | None:
    """The caller's trace context, so the command and its facts join the caller's trace."""
    return dict(context.invocation_metadata() or ()).get(codec.HEADER_TRACEPARENT)


class CaseIntakeServicer(intake_pb2_grpc.CaseIntakeServicer):
    def __init__(
        self,
        state: IntakeState,
        rules: Rules,
        identity: IdentityResolver,
        send: SendCommand,
        replies: PendingReplies,
        clock: Clock,
        *,
        decision_timeout_s: float = 15.0,
    ) -> None:
        self._clock = clock
        self._state = state
        self._rules = rules
        self._identity = identity
        self._send = send
        self._replies = replies
        self._timeout = decision_timeout_s

    # ---------------------------------------------------------------- commands

    async def SubmitReport(self, request, context):
        bureau = await self._identity.caller_bureau(context)
        report = request.report
        key = submission_key(bureau, report.external_ref)
        try:
            # The same report again: its case; another report under a used reference: refused.
            case_id = known_submission(self._state, bureau, report)
        except DomainError as refusal:
            await abort_with(context, refusal)
        duplicate = case_id is not None
        if not duplicate:
            violations = validate_report(
                report, bureau, self._rules.bureaus, self._rules.uscc_allow
            )
            if violations:
                await abort_with(context, InvalidInput(violations))
            outcome = await self._decide(context, report, bureau, subject_key=key)
            duplicate = not outcome.events  # a concurrent retry of this report got there first
            held = self._state.submissions.get(key)
            case_id = held.case_id if held is not None else ""
        case = self._state.cases.get(case_id)
        if case is None:
            await context.abort(grpc.StatusCode.INTERNAL, f"submission {key} has no case")
        filed_here = (case.submitting_bureau, case.report.external_ref) == (
            bureau,
            report.external_ref,
        )
        return S.SubmitReportResponse(
            case_id=case.case_id,
            outcome=S.SUBMISSION_OUTCOME_FILED if filed_here else S.SUBMISSION_OUTCOME_LINKED,
            duplicate=duplicate,
        )

    async def AcceptCase(self, request, context):
        return await self._case_command(context, request)

    async def RejectCase(self, request, context):
        return await self._case_command(context, request)

    async def AssignCase(self, request, context):
        return await self._case_command(context, request)

    async def StartInvestigation(self, request, context):
        return await self._case_command(context, request)

    async def DecideCase(self, request, context):
        return await self._case_command(context, request)

    async def CloseCase(self, request, context):
        return await self._case_command(context, request)

    async def TransferCase(self, request, context):
        return await self._case_command(context, request)

    async def AddEvidence(self, request, context):
        return await self._case_command(context, request)

    async def IdentifyRespondent(self, request, context):
        bureau = await self._identity.caller_bureau(context)
        key = ",".join(matching.online_keys(request.online_identifier)) or "identify"
        outcome = await self._decide(context, request, bureau, subject_key=key)
        links = [codec.body_of(e) for e in outcome.events if e.HasField("cases_linked")]
        return S.IdentifyRespondentResponse(links=links)

    async def LaunchSpecialAction(self, request, context):
        return await self._action_command(context, request)

    async def JoinSpecialAction(self, request, context):
        return await self._action_command(context, request)

    async def EnrollCases(self, request, context):
        return await self._action_command(context, request)

    async def ConcludeSpecialAction(self, request, context):
        return await self._action_command(context, request)

    async def RegisterTargetEnterprise(self, request, context):
        bureau = await self._command(context, request, request.enterprise.uscc)
        return self._targets(bureau)

    async def RemoveTargetEnterprise(self, request, context):
        bureau = await self._command(context, request, request.uscc)
        return self._targets(bureau)

    # ---------------------------------------------------------------- lookups

    async def GetCase(self, request, context):
        await self._identity.caller_bureau(context)
        case = self._state.cases.get(request.case_id)
        if case is None:
            await abort_with(context, NotFound(f"no case {request.case_id!r}"))
        return case_view(case, self._state)

    async def ListCases(self, request, context):
        await self._identity.caller_bureau(context)
        size = min(request.page.page_size or _DEFAULT_PAGE, _MAX_PAGE)
        after = request.page.page_token
        # Ascending case ids after the page token. By action or respondent: read from that
        # action's or key's case set, as many nodes as the page needs; otherwise every case.
        if request.action_id:
            candidates = self._state.cases_of_action(request.action_id, after=after)
        elif request.respondent_uscc:
            key = matching.uscc_key(request.respondent_uscc)
            candidates = self._state.cases_with_key(key, after=after)
        else:
            candidates = iter(sorted(c for c in self._state.cases if c > after))
        page, next_token = [], ""
        for case_id in candidates:
            case = self._state.cases.get(case_id)
            if case is None:
                continue
            if request.bureau and request.bureau not in (
                case.handling_bureau,
                case.submitting_bureau,
            ):
                continue
            if request.status and case.status != request.status:
                continue
            if len(page) == size:
                next_token = page[-1].case_id
                break
            page.append(case_view(case, self._state, with_history=False))
        return S.ListCasesResponse(cases=page, next_page_token=next_token)

    async def GetActionProgress(self, request, context):
        await self._identity.caller_bureau(context)
        try:
            return action_progress(request.action_id, self._state)
        except DomainError as error:
            await abort_with(context, error)

    async def GetRespondentHistory(self, request, context):
        await self._identity.caller_bureau(context)
        if request.uscc:
            keys = [matching.uscc_key(request.uscc)]
        else:
            keys = matching.online_keys(request.online_identifier)
        if not keys:
            await abort_with(
                context, InvalidInput([Violation("uscc", "give a USCC or an online identifier")])
            )
        keys = self._state.with_identities(keys)
        case_ids = sorted({c for key in keys for c in self._state.cases_with_key(key)})
        cases = [self._state.cases.get(c) for c in case_ids]
        return S.RespondentHistory(
            match_key=keys[0],
            cases=[case_view(c, self._state, with_history=False) for c in cases if c],
        )

    # ---------------------------------------------------------------- plumbing

    async def _decide(self, context, body: Message, bureau: str, subject_key: str) -> Outcome:
        """Publish the command and wait for the single writer's decision on it."""
        if isinstance(body, S.ReportSubmitted):
            command = body
        else:
            command = S.IntakeCommand()
            getattr(command, _COMMAND_FIELDS[body.DESCRIPTOR.full_name]).CopyFrom(body)
        # The service's clock stamps the command: deadlines count from it (injectable in tests).
        env = codec.envelope(
            command, producer_bureau=bureau, subject_key=subject_key, occurred_at=self._clock.now()
        )
        waiting = self._replies.expect(env.event_id)
        try:
            await self._send(env, _traceparent(context))
            outcome = await asyncio.wait_for(waiting, self._timeout)
        except TimeoutError:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"no decision within {self._timeout}s; the command "
                f"{env.event_id} is on the log and will still be decided",
            )
        finally:
            self._replies.forget(env.event_id)
        if outcome.error is not None:
            await abort_with(context, outcome.error)
        return outcome

    async def _command(self, context, body: Message, subject: str) -> str:
        bureau = await self._identity.caller_bureau(context)
        await self._decide(context, body, bureau, subject_key=subject)
        return bureau

    async def _case_command(self, context, body):
        await self._command(context, body, body.case_id)
        return case_view(self._state.cases.get(body.case_id), self._state)

    async def _action_command(self, context, body):
        await self._command(context, body, body.action_id)
        return action_progress(body.action_id, self._state)

    def _targets(self, center: str) -> S.TargetEnterpriseResponse:
        targets = self._state.targets.get(center, {})
        return S.TargetEnterpriseResponse(
            center=center,
            targets=[common_pb2.Entity(uscc=u, name=n) for u, n in sorted(targets.items())],
        )


_COMMAND_FIELDS = {
    f.message_type.full_name: f.name
    for f in S.IntakeCommand.DESCRIPTOR.oneofs_by_name["command"].fields
}
