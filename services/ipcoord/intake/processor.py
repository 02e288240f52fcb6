"""Intake's application service: the platform's single-writer processor
(platform/processor.py) with intake's logic: which records carry which commands, the rules,
how a refusal is told on Kafka, the keys of facts, the answers to gRPC callers, and the
indexes rebuilt from the cases."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from google.protobuf.message import Message

from ipcoord.intake.answers import answer
from ipcoord.intake.domain import Command, Meta, Rules, decide, evolve, indexes
from ipcoord.intake.keys import fact_key
from ipcoord.intake.state import DERIVED_INDEXES, IntakeState
from ipcoord.intake.state_codecs import CODECS
from ipcoord.platform import codec
from ipcoord.platform.errors import DomainError, InvalidInput, Violation
from ipcoord.platform.journal import Journal
from ipcoord.platform.processor import REBUILD_SLICE, Processor
from ipcoord.platform.staged import Stage
from ipcoord.v1 import credit_pb2, intake_pb2

SERVICE = "intake"
# Listings from credit, relayed onto intake's control topic (they decide fast-track).
RELAYED = (credit_pb2.SeriousDishonestyListed, credit_pb2.ListingRemoved)
# Commands only intake itself gives; refused from anyone else's topic.
SYSTEM_COMMANDS = frozenset({"check_deadlines"})


def command_of(env: codec.Envelope, *, system: bool) -> Message | None:
    """The command inside an envelope; None for a relayed listing. ``system``: the record came
    from intake's own control topic, the only place its clock and relayed listings may come
    from (a bureau system could otherwise escalate every watched case by sending a tick)."""
    body = codec.body_of(env)
    if isinstance(body, intake_pb2.IntakeCommand):
        which = body.WhichOneof("command")
        if which is None:
            raise codec.InvalidEnvelope("IntakeCommand has no command set", "ValidationError")
        if (which in SYSTEM_COMMANDS) != system:
            raise _misplaced(env, system)
        return getattr(body, which)
    if isinstance(body, intake_pb2.ReportSubmitted) and not system:
        return body
    if isinstance(body, RELAYED) and system:
        return None
    raise _misplaced(env, system)


def _misplaced(env: codec.Envelope, system: bool) -> codec.InvalidEnvelope:
    if system:
        return codec.InvalidEnvelope(
            f"{env.event_type} does not belong on intake's control topic", "UnexpectedEventType"
        )
    return codec.InvalidEnvelope(
        f"{env.event_type} comes only from the intake service itself (its clock, or the "
        f"listings it relays from credit); it is refused from the submissions topic "
        f"(declared producer {env.producer_bureau!r})",
        "ForbiddenSystemCommand",
    )


class IntakeLogic:
    service = SERVICE
    facts_topic = "cases"
    codecs = CODECS

    def __init__(self, rules: Rules) -> None:
        self._rules = rules

    def command_of(self, env: codec.Envelope, *, system: bool) -> Message | None:
        return command_of(env, system=system)

    def decide(self, body: Message, env: codec.Envelope, state: IntakeState) -> list[Message]:
        command = Command(body, env.producer_bureau, env.event_id, codec.occurred_at(env))
        return decide(command, state, self._rules)

    def evolve(self, state: IntakeState, event: Message, env: codec.Envelope) -> None:
        # The bureau is the one that gave the command (facts keep their producer's name).
        evolve(state, event, Meta(env.event_id, codec.occurred_at(env), env.producer_bureau))

    def fact_key(self, event: Message, cause: codec.Envelope) -> str:
        return fact_key(event, cause)

    def answer(
        self, env: codec.Envelope, facts: list[codec.Envelope], state: IntakeState
    ) -> Message | None:
        return answer(command_of(env, system=False), env.producer_bureau, facts, state)

    def rebuild_indexes(self, state: IntakeState, tables: Callable) -> Iterator[int]:
        view = dataclasses.replace(
            state, cases=tables("cases"), **{name: tables(name) for name in DERIVED_INDEXES}
        )
        return indexes.rebuilding(view, REBUILD_SLICE)

    def rejection(self, env: codec.Envelope, body: Message, error: DomainError) -> Message:
        if isinstance(body, intake_pb2.ReportSubmitted):
            # Invalid, or a different report under a reference already used: the bureau reads
            # why from the rejection keyed by its own reference.
            violations = (
                error.violations
                if isinstance(error, InvalidInput)
                else [Violation("external_ref", error.reason)]
            )
            return intake_pb2.SubmissionRejected(
                submitting_bureau=env.producer_bureau,
                external_ref=body.external_ref,
                submission_event_id=env.event_id,
                code=error.code,
                violations=[
                    intake_pb2.FieldViolation(field=v.field, description=v.description)
                    for v in violations
                ],
            )
        return intake_pb2.CaseCommandRejected(
            subject_id=getattr(body, "case_id", "") or getattr(body, "action_id", ""),
            command=type(body).__name__,
            reason=error.reason,
            code=error.code,
            actor_bureau=env.producer_bureau,
        )


class IntakeProcessor(Processor):
    """Handles one decoded command of intake (platform/processor.py says how)."""

    def __init__(
        self,
        state: IntakeState,
        stage: Stage,
        journal: Journal,
        rules: Rules,
        publish,
        send_reply,
        fail_stop: Callable[[BaseException], None],
    ) -> None:
        super().__init__(
            state, stage, journal, IntakeLogic(rules), publish, send_reply, fail_stop=fail_stop
        )
