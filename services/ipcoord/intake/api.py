"""CaseIntake gRPC servicer: identify the caller, hand commands to the single writer and
return its answer (request-reply over Kafka, so any replica takes any write), answer lookups
(queries.py) here or on the replica that holds the tables (the lookup router), map refusals
to statuses. Thin by design:
the writer validates, keys.py names the keys, queries.py reads the tables."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from google.protobuf.message import Message

from ipcoord.intake import queries
from ipcoord.intake.keys import WRITER_PARTITION, command_key
from ipcoord.intake.state import IntakeState
from ipcoord.platform import codec
from ipcoord.platform.calendar import Clock
from ipcoord.platform.errors import DomainError
from ipcoord.platform.forwarding import LookupRouter
from ipcoord.platform.grpc_errors import abort_with
from ipcoord.platform.identity import IdentityResolver
from ipcoord.platform.request_reply import ReplyInbox, answered_by_writer
from ipcoord.v1 import intake_pb2, intake_pb2_grpc

S = intake_pb2

# (command envelope, caller's W3C traceparent or None, extra headers) -> published
SendCommand = Callable[..., Awaitable[None]]  # see platform.sending.command_sender


class CaseIntakeServicer(intake_pb2_grpc.CaseIntakeServicer):
    def __init__(
        self,
        state: IntakeState,
        identity: IdentityResolver,
        send: SendCommand,
        inbox: ReplyInbox,
        clock: Clock,
        router: LookupRouter,
        *,
        decision_timeout_s: float = 15.0,
    ) -> None:
        self._clock = clock
        self._state = state
        self._identity = identity
        self._send = send
        self._inbox = inbox
        self._router = router
        self._timeout = decision_timeout_s

    # ---------------------------------------------------------------- commands

    async def SubmitReport(self, request, context):
        return await self._command(context, request.report, S.SubmitReportResponse)

    async def AcceptCase(self, request, context):
        return await self._command(context, request, S.CaseView)

    async def RejectCase(self, request, context):
        return await self._command(context, request, S.CaseView)

    async def AssignCase(self, request, context):
        return await self._command(context, request, S.CaseView)

    async def StartInvestigation(self, request, context):
        return await self._command(context, request, S.CaseView)

    async def DecideCase(self, request, context):
        return await self._command(context, request, S.CaseView)

    async def CloseCase(self, request, context):
        return await self._command(context, request, S.CaseView)

    async def TransferCase(self, request, context):
        return await self._command(context, request, S.CaseView)

    async def AddEvidence(self, request, context):
        return await self._command(context, request, S.CaseView)

    async def IdentifyRespondent(self, request, context):
        return await self._command(context, request, S.IdentifyRespondentResponse)

    async def LaunchSpecialAction(self, request, context):
        return await self._command(context, request, S.ActionProgress)

    async def JoinSpecialAction(self, request, context):
        return await self._command(context, request, S.ActionProgress)

    async def EnrollCases(self, request, context):
        return await self._command(context, request, S.ActionProgress)

    async def ConcludeSpecialAction(self, request, context):
        return await self._command(context, request, S.ActionProgress)

    async def RegisterTargetEnterprise(self, request, context):
        return await self._command(context, request, S.TargetEnterpriseResponse)

    async def RemoveTargetEnterprise(self, request, context):
        return await self._command(context, request, S.TargetEnterpriseResponse)

    # ---------------------------------------------------------------- lookups

    async def GetCase(self, request, context):
        return await self._lookup(context, "GetCase", request, queries.get_case, request.case_id)

    async def ListCases(self, request, context):
        return await self._lookup(context, "ListCases", request, queries.list_cases, request)

    async def GetActionProgress(self, request, context):
        return await self._lookup(
            context, "GetActionProgress", request, queries.action_progress, request.action_id
        )

    async def GetRespondentHistory(self, request, context):
        return await self._lookup(
            context, "GetRespondentHistory", request, queries.respondent_history, request
        )

    # ---------------------------------------------------------------- plumbing

    async def _command(self, context, body: Message, answer_type):
        """Publish the command for the single writer and return its answer."""
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
            subject_key=command_key(body, bureau),
            occurred_at=self._clock.now(),
        )
        return await answered_by_writer(
            context, self._inbox, self._send, env, answer_type, self._timeout
        )

    async def _lookup(
        self, context, method: str, request, query: Callable[..., Message], *args
    ) -> Message:
        """Intake's tables are one partition: the writer's replica answers, any other forwards
        the lookup there (UNAVAILABLE while none holds it current, never a wrong NOT_FOUND)."""
        try:
            return await self._router.one(
                context, method, request, WRITER_PARTITION, lambda: query(self._state, *args)
            )
        except DomainError as error:
            await abort_with(context, error)


_COMMAND_FIELDS = {
    f.message_type.full_name: f.name
    for f in S.IntakeCommand.DESCRIPTOR.oneofs_by_name["command"].fields
}
