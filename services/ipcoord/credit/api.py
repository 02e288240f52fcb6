"""CreditRecords gRPC servicer: identify the caller, hash personal id numbers on arrival, hand
commands to the writer of the entity (request-reply over Kafka, so any replica takes any
write), answer lookups here or on the replicas that own their partitions (the lookup router),
map refusals to statuses. Thin by design: the writer validates, queries.py reads the
tables."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.message import Message

from ipcoord.credit import queries
from ipcoord.credit.domain.records import check_uscc
from ipcoord.credit.domain.shared import Rules
from ipcoord.credit.keys import partition_of
from ipcoord.credit.state import CreditState, uscc_of_listing
from ipcoord.credit.stream import command
from ipcoord.platform.calendar import Clock
from ipcoord.platform.errors import DomainError, InvalidInput, NotFound, Violation
from ipcoord.platform.forwarding import LookupRouter
from ipcoord.platform.grpc_errors import abort_with
from ipcoord.platform.identity import IdentityResolver
from ipcoord.platform.personal_ids import PersonHasher, id_number_problem
from ipcoord.platform.request_reply import ReplyInbox, answered_by_writer
from ipcoord.platform.topics import CREDIT_COMMANDS
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import credit_pb2_grpc

SendCommand = Callable[..., Awaitable[None]]  # platform.sending.command_sender


class CreditRecordsServicer(credit_pb2_grpc.CreditRecordsServicer):
    def __init__(
        self,
        state: CreditState,
        rules: Rules,
        identity: IdentityResolver,
        hasher: PersonHasher,
        send: SendCommand,
        inbox: ReplyInbox,
        clock: Clock,
        router: LookupRouter,
        *,
        max_bytes: int = 1_000_000,
        decision_timeout_s: float = 15.0,
    ) -> None:
        self._max_bytes = max_bytes
        self._state = state
        self._rules = rules
        self._identity = identity
        self._hasher = hasher
        self._send = send
        self._inbox = inbox
        self._clock = clock
        self._router = router
        self._timeout = decision_timeout_s

    # ---------------------------------------------------------------- commands

    async def RecordDishonesty(self, request, context):
        body = C.RecordDishonesty(
            entity=request.entity,
            behaviour=request.behaviour,
            source_case_id=request.source_case_id,
            note=request.note,
            related_persons=await self._hashed(context, request.related_persons),
        )
        return await self._command(context, body, request.entity.uscc, C.DishonestyRecorded)

    async def SubmitFeedback(self, request, context):
        bureau = await self._identity.caller_bureau(context)
        body = C.DisciplineFeedbackSubmitted()
        body.CopyFrom(request)
        body.department = request.department or bureau
        body.path = C.FEEDBACK_PATH_GRPC  # the department is the caller's certificate
        uscc = await self._uscc_of_listing(context, request.listing_id)
        return await self._command(context, body, uscc, C.ListingFeedback)

    async def ObjectToListing(self, request, context):
        return await self._listing_command(context, request)

    async def DecideObjection(self, request, context):
        return await self._listing_command(context, request)

    async def RequestCreditRepair(self, request, context):
        return await self._listing_command(context, request)

    async def AcknowledgeRepairRequest(self, request, context):
        return await self._listing_command(context, request)

    async def DecideCreditRepair(self, request, context):
        return await self._listing_command(context, request)

    # ---------------------------------------------------------------- lookups

    async def CheckDiscipline(self, request, context):
        if request.person_id_number and request.uscc:
            await abort_with(
                context,
                InvalidInput([Violation("uscc", "give either a USCC or a person's id number")]),
            )
        if request.person_id_number:
            await self._valid_id_number(context, "person_id_number", request.person_id_number)
            person = self._hasher.candidates(request.person_id_number)
            return await self._every(
                context,
                "CheckDiscipline",
                request,
                lambda within: queries.check_discipline(
                    self._state,
                    self._rules,
                    person=person,
                    measure_code=request.measure_code,
                    department=request.department,
                    within=within,
                ),
                queries.strongest,
            )
        return await self._one(
            context,
            "CheckDiscipline",
            request,
            request.uscc,
            lambda: queries.check_discipline(
                self._state,
                self._rules,
                uscc=request.uscc,
                measure_code=request.measure_code,
                department=request.department,
            ),
        )

    async def GetCreditProfile(self, request, context):
        return await self._one(
            context,
            "GetCreditProfile",
            request,
            request.uscc,
            lambda: queries.credit_profile(self._state, self._rules, request.uscc),
        )

    async def ListListings(self, request, context):
        return await self._every(
            context,
            "ListListings",
            request,
            lambda within: queries.list_listings(self._state, request, within),
            lambda pages: queries.merged_page(request, pages),
        )

    async def GetListingFeedback(self, request, context):
        uscc = await self._uscc_of_listing(context, request.listing_id)
        return await self._one(
            context,
            "GetListingFeedback",
            request,
            uscc,
            lambda: queries.listing_feedback(self._state, request.listing_id),
        )

    # ---------------------------------------------------------------- plumbing

    async def _hashed(self, context, persons) -> list[C.RelatedPerson]:
        hashed = []
        for i, person in enumerate(persons):
            await self._valid_id_number(
                context, f"related_persons[{i}].id_number", person.id_number
            )
            kept = self._hasher.hash(person.id_number)
            hashed.append(
                C.RelatedPerson(
                    role=person.role,
                    display_name=person.display_name,
                    id_number_hmac=kept.digest,
                    hash_key_id=kept.key_id,
                )
            )
        return hashed

    async def _valid_id_number(self, context, field: str, id_number: str) -> None:
        problem = id_number_problem(id_number)
        if problem:
            await abort_with(context, InvalidInput([Violation(field, problem)]))

    async def _listing_command(self, context, body: Message) -> C.ListingStatus:
        """A command about a listing goes to the writer of the entity its id names."""
        uscc = await self._uscc_of_listing(context, body.listing_id)
        return await self._command(context, body, uscc, C.ListingStatus)

    async def _uscc_of_listing(self, context, listing_id: str) -> str:
        """The entity a listing id names (its writer's key); NOT_FOUND for what is no listing
        id (echoing at most its first 100 characters)."""
        uscc = uscc_of_listing(listing_id)
        if uscc is None:
            await abort_with(context, NotFound(f"no listing {listing_id[:100]!r}"))
        return uscc

    async def _command(self, context, body: Message, uscc: str, answer_type):
        bureau = await self._identity.caller_bureau(context)
        try:
            # The USCC is the command's Kafka key: checked before it is one.
            check_uscc(uscc, self._rules, "entity.uscc")
        except InvalidInput as invalid:
            await abort_with(context, invalid)
        env = command(body, actor=bureau, key=uscc, at=self._clock.now())
        if env.ByteSize() > self._max_bytes:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the command is {env.ByteSize()} bytes; at most {self._max_bytes}",
            )
        return await answered_by_writer(
            context, self._inbox, self._send, env, answer_type, self._timeout
        )

    async def _one(self, context, method: str, request, uscc: str, query) -> Message:
        """A lookup of one entity, answered by the replica that holds its partition."""
        try:
            # Checked here: a bad key is refused at once, not forwarded.
            check_uscc(uscc, self._rules, "uscc")
            partition = partition_of(uscc, CREDIT_COMMANDS.partitions)
            return await self._router.one(context, method, request, partition, query)
        except DomainError as error:
            await abort_with(context, error)

    async def _every(self, context, method: str, request, query, merge) -> Message:
        """A lookup over every entity: each replica answers for the partitions it holds."""

        def answer(partitions: frozenset[int]) -> Message:
            return query(lambda uscc: partition_of(uscc, CREDIT_COMMANDS.partitions) in partitions)

        try:
            return await self._router.every(context, method, request, answer, merge)
        except DomainError as error:
            await abort_with(context, error)
