"""Intake's two writers, each the platform's processor (platform/processor.py) with its logic:

- the **matcher** (one partition: ipcoord.intake.submissions.v1 and intake's control topic)
  decides what reads across cases: filing or linking a report, identifying a seller, special
  actions and their enrolments, target enterprises; it keeps each case's summary, applies the
  listings relayed from credit and the case facts relayed from the case writers, and hands the
  case facts it decides to the case's writer;
- the **case writers** (ipcoord.intake.casework.v1, keyed by case id like ipcoord.cases.v1)
  hold the cases: they run each case's lifecycle and deadlines, apply the facts the matcher
  decided and publish them, and answer a submission's caller once its case is applied.

docs/intake.md, "Two writers", says why the line runs there."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from google.protobuf.message import Message

from ipcoord.intake import matching
from ipcoord.intake.answers import answer
from ipcoord.intake.domain import Command, Meta, Rules, decide, evolve, indexes
from ipcoord.intake.domain.filing import known_submission
from ipcoord.intake.keys import fact_key, partition_of
from ipcoord.intake.state import DERIVED_INDEXES, IntakeState
from ipcoord.intake.state_codecs import CASEWORK_CODECS, MATCHER_CODECS
from ipcoord.intake.views import case_view
from ipcoord.platform import codec
from ipcoord.platform.errors import DomainError, InvalidInput, Violation
from ipcoord.platform.processor import REBUILD_SLICE
from ipcoord.platform.topics import INTAKE_CASEWORK
from ipcoord.v1 import credit_pb2, intake_pb2

S = intake_pb2
SERVICE = "intake"
# Listings from credit, relayed onto intake's control topic (they decide fast-track).
RELAYED = (credit_pb2.SeriousDishonestyListed, credit_pb2.ListingRemoved)
# The commands about one case: its writer decides them (the gRPC edge sends them to it; the
# matcher relays those bureau systems put on the submissions topic).
CASE_COMMANDS = frozenset(
    {
        "accept_case",
        "reject_case",
        "assign_case",
        "start_investigation",
        "decide_case",
        "close_case",
        "transfer_case",
        "add_evidence",
    }
)
# Commands only intake itself gives (its clock); refused from anyone else's topic.
SYSTEM_COMMANDS = frozenset({"check_deadlines"})
# The case writers' facts that change what the matcher keeps of a case (its status: whether a
# report may still join it and the actions' progress; its handler: the bureaus' case sets):
# relayed to the matcher's control topic.
STANDING_FACTS = (
    S.CaseAccepted,
    S.CaseRejected,
    S.CaseAssigned,
    S.InvestigationStarted,
    S.CaseDecided,
    S.CaseClosed,
    S.CaseTransferred,
)
# The case commands after which a report may no longer join the case. One a bureau system
# puts on the submissions topic holds the matcher's order until its case's writer has decided
# it (stream.py): a report right after it is matched as if one writer had decided both.
CLOSING_COMMANDS = frozenset({"reject_case", "close_case"})


def closing_outcome_of(body: Message) -> bool:
    """Whether a case writer's fact is the refusal of a closing command (relayed to the
    matcher, which waits for the outcome of one either way)."""
    return isinstance(body, S.CaseCommandRejected) and body.command in ("RejectCase", "CloseCase")


# The case facts the matcher decides: each goes to the case's writer, which applies and
# publishes it.
MATCHED_FACTS = (S.CaseFiled, S.ReportLinked, S.CaseFastTracked, S.CaseEnrolled, S.CasesLinked)
# The facts the matcher publishes itself that every case writer keeps a copy of.
COPIED_FACTS = (S.RespondentIdentified,)


def intake_command(env: codec.Envelope) -> tuple[str, Message] | None:
    """(which command, the command) of an IntakeCommand envelope; None for another body."""
    body = codec.body_of(env)
    if not isinstance(body, S.IntakeCommand):
        return None
    which = body.WhichOneof("command")
    if which is None:
        raise codec.InvalidEnvelope("IntakeCommand has no command set", "ValidationError")
    return which, getattr(body, which)


def case_command_of(env: codec.Envelope) -> str | None:
    """The case of a record of the submissions topic that is a case's command (relayed to its
    writer); None for any other record."""
    command = intake_command(env)
    if command is None or command[0] not in CASE_COMMANDS:
        return None
    return command[1].case_id


def _refused_here(env: codec.Envelope, where: str, code: str) -> codec.InvalidEnvelope:
    return codec.InvalidEnvelope(f"{env.event_type} does not belong on {where}", code)


def _forbidden(env: codec.Envelope) -> codec.InvalidEnvelope:
    return codec.InvalidEnvelope(
        f"{env.event_type} comes only from the intake service itself (its clock, the listings "
        f"it relays from credit, its own case writers); it is refused from the submissions "
        f"topic (declared producer {env.producer_bureau!r})",
        "ForbiddenSystemCommand",
    )


def _rejection(env: codec.Envelope, body: Message, error: DomainError) -> Message:
    if isinstance(body, S.ReportSubmitted):
        # Invalid, or a different report under a reference already used: the bureau reads
        # why from the rejection keyed by its own reference.
        violations = (
            error.violations
            if isinstance(error, InvalidInput)
            else [Violation("external_ref", error.reason)]
        )
        return S.SubmissionRejected(
            submitting_bureau=env.producer_bureau,
            external_ref=body.external_ref,
            submission_event_id=env.event_id,
            code=error.code,
            violations=[
                S.FieldViolation(field=v.field, description=v.description) for v in violations
            ],
        )
    return S.CaseCommandRejected(
        subject_id=getattr(body, "case_id", "") or getattr(body, "action_id", ""),
        command=type(body).__name__,
        reason=error.reason,
        code=error.code,
        actor_bureau=env.producer_bureau,
    )


def _command(body: Message, env: codec.Envelope) -> Command:
    return Command(body, env.producer_bureau, env.event_id, codec.occurred_at(env))


def _meta(env: codec.Envelope) -> Meta:
    # The bureau is the one that gave the command (facts keep their producer's name).
    return Meta(env.event_id, codec.occurred_at(env), env.producer_bureau)


def _rebuilding(state: IntakeState, tables: Callable) -> Iterator[int]:
    view = dataclasses.replace(
        state, cases=tables("cases"), **{name: tables(name) for name in DERIVED_INDEXES}
    )
    return indexes.rebuilding(view, REBUILD_SLICE)


class MatcherLogic:
    service = SERVICE
    facts_topic = "cases"
    codecs = MATCHER_CODECS

    def __init__(self, rules: Rules) -> None:
        self._rules = rules

    def command_of(self, env: codec.Envelope, *, system: bool) -> Message | None:
        """``system``: the record came from intake's control topic, the only place relayed
        listings and case facts may come from (a bureau system could otherwise reopen a
        closed case to the matcher by sending a fact)."""
        body = codec.body_of(env)
        if system:
            if isinstance(body, RELAYED + STANDING_FACTS) or closing_outcome_of(body):
                return None  # applied as it is (a refusal changes nothing)
            raise _refused_here(env, "intake's control topic", "UnexpectedEventType")
        if isinstance(body, S.ReportSubmitted):
            return body
        command = intake_command(env)
        if command is None or command[0] in SYSTEM_COMMANDS:
            raise _forbidden(env)
        if command[0] in CASE_COMMANDS:  # relayed to the case's writer before it gets here
            raise _refused_here(env, "the matcher", "UnexpectedEventType")
        return command[1]

    def decide(self, body: Message, env: codec.Envelope, state: IntakeState) -> list[Message]:
        command = _command(body, env)
        events = decide(command, state, self._rules)
        partitions = _partitions_reached(events)
        if not events and isinstance(body, S.ReportSubmitted):
            # A duplicate: answered once the first submission's case is applied.
            first = known_submission(state, command.actor, body) or ""
            partitions = {partition_of(first, INTAKE_CASEWORK.partitions)}
        return events + _barriers(env.event_id, partitions)

    def evolve(self, state: IntakeState, event: Message, env: codec.Envelope) -> None:
        if not isinstance(event, S.CaseWork):
            evolve(state, event, _meta(env))

    def fact_key(self, event: Message, cause: codec.Envelope) -> str:
        if isinstance(event, S.CaseWork):
            return cause.subject_key  # a barrier: sent to its partition by number
        return fact_key(event, cause)

    def carries_reply(self, fact: codec.Envelope) -> bool:
        return fact.HasField("case_work")

    def reply_part(self, env: codec.Envelope) -> tuple[str, int, int] | None:
        """A case writer's fact relayed here with its caller's reply address: the second part
        of the reply to the case's command (its writer's answer is the first), once the
        matcher applied it (a case command makes one fact that changes the case's standing)."""
        if isinstance(codec.body_of(env), STANDING_FACTS):
            return env.causation_id, 1, 2
        return None

    def answer(
        self, env: codec.Envelope, facts: list[codec.Envelope], state: IntakeState
    ) -> Message | None:
        body = codec.body_of(env)
        if isinstance(body, S.ReportSubmitted):
            return answer(body, env.producer_bureau, facts, state)
        command = intake_command(env)
        return answer(command[1], env.producer_bureau, facts, state) if command else None

    def rebuild_indexes(self, state: IntakeState, tables: Callable) -> Iterator[int]:
        return _rebuilding(state, tables)

    def rejection(self, env: codec.Envelope, body: Message, error: DomainError) -> Message:
        return _rejection(env, body, error)


def _partitions_reached(events: list[Message]) -> set[int]:
    """The case partitions the matcher's facts go to (a copy goes to every one)."""
    reached: set[int] = set()
    for event in events:
        if isinstance(event, COPIED_FACTS):
            return set(range(INTAKE_CASEWORK.partitions))
        if isinstance(event, MATCHED_FACTS):
            reached.add(partition_of(event.case_id, INTAKE_CASEWORK.partitions))
    return reached


def _barriers(command_event_id: str, partitions: set[int]) -> list[Message]:
    """A part of the caller's reply for each partition reached, sent after the facts."""
    parts = 1 + len(partitions)
    return [
        S.CaseWork(
            barrier=S.ReplyBarrier(
                command_event_id=command_event_id, partition=p, part=n, parts=parts
            )
        )
        for n, p in enumerate(sorted(partitions), start=1)
    ]


def _keep_in_this_partition(state: IntakeState, copied: Message) -> None:
    """Each partition keeps its copy: written again here even when the evolve found it
    unchanged, as over the memory store (one dict for every partition), so that every
    partition's changelog holds it. (Over rocksdb a read inside the record reads this
    partition's copy: the table is read uncached, main.py.)"""
    if isinstance(copied, S.RespondentIdentified):
        for key in matching.online_keys(copied.online_identifier):
            usccs = state.identities.get(key)
            if usccs is not None:
                state.identities[key] = usccs


class CaseLogic:
    service = SERVICE
    facts_topic = "cases"
    codecs = CASEWORK_CODECS

    def __init__(self, rules: Rules) -> None:
        self._rules = rules

    def command_of(self, env: codec.Envelope, *, system: bool) -> Message | None:
        body = codec.body_of(env)
        if isinstance(body, S.CaseWork):
            # A copy is applied as it is (evolve opens it); a fact or a barrier is decided.
            return None if body.WhichOneof("work") == "copy" else body
        command = intake_command(env)
        if command is None or command[0] not in CASE_COMMANDS | SYSTEM_COMMANDS:
            raise _refused_here(env, "intake's case writers' topic", "UnexpectedEventType")
        return command[1]

    def decide(self, body: Message, env: codec.Envelope, state: IntakeState) -> list:
        if isinstance(body, S.CaseWork):
            if body.WhichOneof("work") == "fact":
                return [codec.decode(body.fact)]  # published as the matcher made it
            return []  # a barrier: what precedes it is applied
        events = decide(_command(body, env), state, self._rules)
        # At most one fact that changes the case's standing: the matcher's acknowledgement of
        # it is the reply's second part of two (MatcherLogic.reply_part).
        assert sum(isinstance(e, STANDING_FACTS) for e in events) <= 1, events
        return events

    def evolve(self, state: IntakeState, event: Message, env: codec.Envelope) -> None:
        if isinstance(event, S.CaseWork):
            copied = codec.decode(event.copy)
            evolve(state, codec.body_of(copied), _meta(copied))
            _keep_in_this_partition(state, codec.body_of(copied))
        else:
            evolve(state, event, _meta(env))

    def fact_key(self, event: Message, cause: codec.Envelope) -> str:
        return fact_key(event, cause)

    def carries_reply(self, fact: codec.Envelope) -> bool:
        # The matcher applies it too, and acknowledges it to the caller (its reply_part).
        return isinstance(codec.body_of(fact), STANDING_FACTS)

    def reply_part(self, env: codec.Envelope) -> tuple[str, int, int] | None:
        """A barrier's acknowledgement: a part of the reply to the matcher's command."""
        if env.HasField("case_work") and env.case_work.HasField("barrier"):
            barrier = env.case_work.barrier
            return barrier.command_event_id, barrier.part, barrier.parts
        return None

    def answer(
        self, env: codec.Envelope, facts: list[codec.Envelope], state: IntakeState
    ) -> Message | None:
        command = intake_command(env)
        if command is None or command[0] in SYSTEM_COMMANDS:
            return None  # a barrier, a tick
        # What the matcher alone knows (links, enrolments) the gRPC edge adds (api.py).
        return case_view(state.cases[command[1].case_id], state, with_related=False)

    def rebuild_indexes(self, state: IntakeState, tables: Callable) -> Iterator[int]:
        return _rebuilding(state, tables)

    def rejection(self, env: codec.Envelope, body: Message, error: DomainError) -> Message:
        return _rejection(env, body, error)
