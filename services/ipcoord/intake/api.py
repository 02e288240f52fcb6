"""CaseIntake gRPC servicer: identify the caller, hand commands to the writer that decides them
and return its answer (request-reply over Kafka, so any replica takes any write), answer
lookups (queries.py) here or on the replicas that hold the partitions they read, map refusals
to statuses. Thin by design: the writers validate, keys.py names the keys, queries.py reads
the tables.

Two writers (docs/intake.md, "Two writers"): a case's commands go to its case writer
(ipcoord.intake.casework.v1), everything else to the matcher (the submissions topic). A case
as a case writer holds it lacks what only the matcher knows (its links and the cases sharing
a source key with it, its special actions): the replica that took the call adds the matcher's
description of it (CaseIndex.DescribeCases) to every CaseView it returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf.message import Message

from ipcoord.intake import queries
from ipcoord.intake.keys import MATCHER_PARTITION, command_key, partition_of
from ipcoord.intake.state import IntakeState
from ipcoord.intake.views import described
from ipcoord.platform import codec
from ipcoord.platform.calendar import Clock
from ipcoord.platform.errors import DomainError
from ipcoord.platform.forwarding import LookupRouter
from ipcoord.platform.grpc_errors import abort_with
from ipcoord.platform.identity import FORWARDED_FOR_HEADER, IdentityResolver
from ipcoord.platform.request_reply import ReplyInbox, answered_by_writer
from ipcoord.platform.topics import INTAKE_CASEWORK
from ipcoord.v1 import intake_pb2, intake_pb2_grpc

S = intake_pb2

# (command envelope, caller's W3C traceparent or None, extra headers) -> published
SendCommand = Callable[..., Awaitable[None]]  # see platform.sending.command_sender


@dataclass(frozen=True)
class Reading:
    """The states lookups read on this replica: the case writers' and the matcher's."""

    cases: IntakeState
    matcher: IntakeState


@dataclass(frozen=True)
class Sending:
    """Where commands go: the matcher's topic (submissions) and the case writers'."""

    submissions: SendCommand
    cases: SendCommand


class CaseIndexServicer(intake_pb2_grpc.CaseIndexServicer):
    """What the matcher alone knows of cases, for intake's replicas: answered on the replica
    that holds the matcher's partition, forwarded there from any other. Served on the gRPC
    port, for the replicas alone (their certificate), never for a bureau."""

    def __init__(
        self, matcher: IntakeState, router: LookupRouter, identity: IdentityResolver
    ) -> None:
        self._matcher = matcher
        self._router = router
        self._identity = identity

    async def DescribeCases(self, request, context):
        if not self._identity.from_replica(context):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                "CaseIndex is for intake's replicas only (their certificate)",
            )
        return await self.describe(context, request)

    async def describe(self, context, request: S.DescribeCasesRequest):
        """For a CaseIntake call of this replica (``context``: the bureau's call)."""
        if len(request.case_ids) > queries.MAX_PAGE:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"at most {queries.MAX_PAGE} case ids"
            )
        return await self._router.one(
            context,
            "DescribeCases",
            request,
            MATCHER_PARTITION,
            lambda: queries.describe_cases(self._matcher, request.case_ids),
        )


@dataclass(frozen=True)
class Lookups:
    """The routers of the case writers' partitions and of the matcher's, and the index."""

    cases: LookupRouter
    matcher: LookupRouter
    index: CaseIndexServicer


class CaseIntakeServicer(intake_pb2_grpc.CaseIntakeServicer):
    def __init__(
        self,
        reading: Reading,
        identity: IdentityResolver,
        send: Sending,
        inbox: ReplyInbox,
        clock: Clock,
        lookups: Lookups,
        *,
        decision_timeout_s: float = 15.0,
    ) -> None:
        self._clock = clock
        self._reading = reading
        self._identity = identity
        self._send = send
        self._inbox = inbox
        self._lookups = lookups
        self._timeout = decision_timeout_s

    # ---------------------------------------------------------------- commands

    async def SubmitReport(self, request, context):
        return await self._command(context, request.report, S.SubmitReportResponse)

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
        view = await self._one(
            context,
            "GetCase",
            request,
            self._lookups.cases,
            partition_of(request.case_id, INTAKE_CASEWORK.partitions),
            lambda: queries.get_case(self._reading.cases, request.case_id),
        )
        await self._describe(context, [view])
        return view

    async def ListCases(self, request, context):
        def answer(partitions: frozenset[int]) -> Message:
            return queries.list_cases(self._reading.cases, request, _within(partitions))

        page = await self._every(
            context, "ListCases", request, answer, lambda a: queries.merged_page(request, a)
        )
        await self._describe(context, page.cases)
        return page

    async def GetRespondentHistory(self, request, context):
        def answer(partitions: frozenset[int]) -> Message:
            return queries.respondent_history(self._reading.cases, request, _within(partitions))

        history = await self._every(
            context, "GetRespondentHistory", request, answer, queries.merged_history
        )
        await self._describe(context, history.cases)
        return history

    async def GetActionProgress(self, request, context):
        return await self._one(
            context,
            "GetActionProgress",
            request,
            self._lookups.matcher,
            MATCHER_PARTITION,
            lambda: queries.action_progress(self._reading.matcher, request.action_id),
        )

    # ---------------------------------------------------------------- plumbing

    async def _command(self, context, body: Message, answer_type):
        """Publish a command for the matcher and return the answer."""
        return await self._sent(context, body, answer_type, self._send.submissions)

    async def _case_command(self, context, body: Message) -> S.CaseView:
        """Publish a case's command for its writer and return the case as it left it."""
        view = await self._sent(context, body, S.CaseView, self._send.cases)
        await self._describe(context, [view])
        return view

    async def _sent(self, context, body: Message, answer_type, send: SendCommand):
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
        return await answered_by_writer(context, self._inbox, send, env, answer_type, self._timeout)

    async def _one(
        self, context, method: str, request, router: LookupRouter, partition: int, answer
    ) -> Message:
        """A lookup of one partition (a case writer's or the matcher's), here or forwarded."""
        try:
            return await router.one(context, method, request, partition, answer)
        except DomainError as error:
            await abort_with(context, error)

    async def _every(self, context, method: str, request, answer, merge) -> Message:
        """A lookup of every case partition: each replica answers for those it holds."""
        try:
            return await self._lookups.cases.every(context, method, request, answer, merge)
        except DomainError as error:
            await abort_with(context, error)

    async def _describe(self, context, views: Sequence[S.CaseView]) -> None:
        """The matcher's description of each case, added to its view. Not on a lookup another
        replica forwarded here: that replica adds it to the whole answer."""
        if not views or FORWARDED_FOR_HEADER in dict(context.invocation_metadata() or ()):
            return
        ids = [view.case_id for view in views]
        by_case = {}
        for start in range(0, len(ids), queries.MAX_PAGE):  # a respondent's cases: any number
            request = S.DescribeCasesRequest(case_ids=ids[start : start + queries.MAX_PAGE])
            descriptions = await self._lookups.index.describe(context, request)
            by_case.update((d.case_id, d) for d in descriptions.cases)
        for view in views:
            if view.case_id in by_case:
                described(view, by_case[view.case_id])


def _within(partitions: frozenset[int]) -> Callable[[str], bool]:
    return lambda case_id: partition_of(case_id, INTAKE_CASEWORK.partitions) in partitions


_COMMAND_FIELDS = {
    f.message_type.full_name: f.name
    for f in S.IntakeCommand.DESCRIPTOR.oneofs_by_name["command"].fields
}
