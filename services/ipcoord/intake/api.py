"""CaseIntake gRPC servicer: identify the caller, hand commands to the single writer and
return its answer (request-reply over Kafka, so any replica takes any write), read lookups
from the tables where this replica holds them. Thin by design: the writer validates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.message import Message

from ipcoord.intake import matching
from ipcoord.intake.domain import action_progress, submission_key
from ipcoord.intake.state import IntakeState
from ipcoord.intake.views import case_view
from ipcoord.platform import codec
from ipcoord.platform.calendar import Clock
from ipcoord.platform.errors import DomainError, InvalidInput, NotFound, Violation, from_refusal
from ipcoord.platform.grpc_errors import abort_with
from ipcoord.platform.identity import IdentityResolver
from ipcoord.platform.request_reply import CallerGone, CommandReply, ReplyInbox
from ipcoord.v1 import intake_pb2, intake_pb2_grpc

S = intake_pb2
_DEFAULT_PAGE = 50
_MAX_PAGE = 500

# (command envelope, caller's W3C traceparent or None, extra headers) -> published
SendCommand = Callable[..., Awaitable[None]]


def _traceparent(context: grpc.aio.ServicerContext) -> str | None:
    """The caller's trace context, so the command and its facts join the caller's trace."""
    return dict(context.invocation_metadata() or ()).get(codec.HEADER_TRACEPARENT)


class CaseIntakeServicer(intake_pb2_grpc.CaseIntakeServicer):
    def __init__(
        self,
        state: IntakeState,
        identity: IdentityResolver,
        send: SendCommand,
        inbox: ReplyInbox,
        clock: Clock,
        holds_state: Callable[[], bool],
        *,
        decision_timeout_s: float = 15.0,
    ) -> None:
        self._clock = clock
        self._state = state
        self._identity = identity
        self._send = send
        self._inbox = inbox
        self._holds_state = holds_state
        self._timeout = decision_timeout_s

    # ---------------------------------------------------------------- commands

    async def SubmitReport(self, request, context):
        ref = request.report.external_ref
        return await self._command(
            context,
            request.report,
            S.SubmitReportResponse,
            lambda bureau: submission_key(bureau, ref),
        )

    async def AcceptCase(self, request, context):
        return await self._command(context, request, S.CaseView, request.case_id)

    async def RejectCase(self, request, context):
        return await self._command(context, request, S.CaseView, request.case_id)

    async def AssignCase(self, request, context):
        return await self._command(context, request, S.CaseView, request.case_id)

    async def StartInvestigation(self, request, context):
        return await self._command(context, request, S.CaseView, request.case_id)

    async def DecideCase(self, request, context):
        return await self._command(context, request, S.CaseView, request.case_id)

    async def CloseCase(self, request, context):
        return await self._command(context, request, S.CaseView, request.case_id)

    async def TransferCase(self, request, context):
        return await self._command(context, request, S.CaseView, request.case_id)

    async def AddEvidence(self, request, context):
        return await self._command(context, request, S.CaseView, request.case_id)

    async def IdentifyRespondent(self, request, context):
        key = ",".join(matching.online_keys(request.online_identifier)) or "identify"
        return await self._command(context, request, S.IdentifyRespondentResponse, key)

    async def LaunchSpecialAction(self, request, context):
        return await self._command(context, request, S.ActionProgress, request.action_id)

    async def JoinSpecialAction(self, request, context):
        return await self._command(context, request, S.ActionProgress, request.action_id)

    async def EnrollCases(self, request, context):
        return await self._command(context, request, S.ActionProgress, request.action_id)

    async def ConcludeSpecialAction(self, request, context):
        return await self._command(context, request, S.ActionProgress, request.action_id)

    async def RegisterTargetEnterprise(self, request, context):
        uscc = request.enterprise.uscc
        return await self._command(context, request, S.TargetEnterpriseResponse, uscc)

    async def RemoveTargetEnterprise(self, request, context):
        return await self._command(context, request, S.TargetEnterpriseResponse, request.uscc)

    # ---------------------------------------------------------------- lookups

    async def GetCase(self, request, context):
        await self._lookup(context)
        case = self._state.cases.get(request.case_id)
        if case is None:
            await abort_with(context, NotFound(f"no case {request.case_id!r}"))
        return case_view(case, self._state)

    async def ListCases(self, request, context):
        await self._lookup(context)
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
        await self._lookup(context)
        try:
            return action_progress(request.action_id, self._state)
        except DomainError as error:
            await abort_with(context, error)

    async def GetRespondentHistory(self, request, context):
        await self._lookup(context)
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

    async def _command(self, context, body: Message, answer_type, subject_key):
        """Publish the command for the single writer and return its answer. ``subject_key``:
        the command's Kafka key, or a function of the caller's bureau that gives it."""
        bureau = await self._identity.caller_bureau(context)
        if isinstance(body, S.ReportSubmitted):
            command = body
        else:
            command = S.IntakeCommand()
            getattr(command, _COMMAND_FIELDS[body.DESCRIPTOR.full_name]).CopyFrom(body)
        # The service's clock stamps the command: deadlines count from it (injectable in tests).
        env = codec.envelope(
            command,
            producer_bureau=bureau,
            subject_key=subject_key(bureau) if callable(subject_key) else subject_key,
            occurred_at=self._clock.now(),
        )
        traceparent = _traceparent(context)
        try:
            reply: CommandReply = await self._inbox.ask(
                lambda e, headers: self._send(e, traceparent, headers), env, self._timeout
            )
        except CallerGone as gone:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(gone))
        if reply.HasField("refusal"):
            await abort_with(context, from_refusal(reply.refusal))
        result = answer_type()
        reply.result.Unpack(result)
        return result

    async def _lookup(self, context) -> None:
        """Lookups read this replica's tables: only the writer's replica has them (lookups on
        any replica come with scale-out); elsewhere UNAVAILABLE, never a wrong NOT_FOUND."""
        await self._identity.caller_bureau(context)
        if not self._holds_state():
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                "this replica does not hold intake's state; ask the replica that owns the "
                "submissions partition",
            )


_COMMAND_FIELDS = {
    f.message_type.full_name: f.name
    for f in S.IntakeCommand.DESCRIPTOR.oneofs_by_name["command"].fields
}
