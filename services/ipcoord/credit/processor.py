"""Credit records' application service: the platform's single-writer processor
(platform/processor.py) with credit's logic. Commands come only from credit's own topic
(ipcoord.credit.commands.v1, keyed by USCC like the tables); facts go to ipcoord.credit.v1
keyed by the entity's USCC."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from google.protobuf.message import Message

from ipcoord.credit.answers import answer
from ipcoord.credit.domain import Command, Meta, Rules, decide, evolve, rebuilding
from ipcoord.credit.state import DERIVED_INDEXES, CreditState, uscc_of_listing
from ipcoord.credit.state_codecs import CODECS
from ipcoord.platform import codec
from ipcoord.platform.errors import DomainError
from ipcoord.platform.journal import Journal
from ipcoord.platform.processor import REBUILD_SLICE, Processor
from ipcoord.platform.staged import Stage
from ipcoord.v1 import credit_pb2 as C

SERVICE = "credit"


def command_of(env: codec.Envelope) -> Message:
    body = codec.body_of(env)
    if not isinstance(body, C.CreditCommand):
        raise codec.InvalidEnvelope(
            f"{env.event_type} does not belong on credit records' command topic",
            "UnexpectedEventType",
        )
    which = body.WhichOneof("command")
    if which is None:
        raise codec.InvalidEnvelope("CreditCommand has no command set", "ValidationError")
    return getattr(body, which)


def uscc_of_fact(event: Message) -> str:
    """The entity a fact is about: its key on ipcoord.credit.v1."""
    entity = getattr(event, "entity", None)
    if entity is not None and entity.uscc:
        return entity.uscc
    return uscc_of_listing(getattr(event, "listing_id", "")) or ""


class CreditLogic:
    service = SERVICE
    facts_topic = "credit"
    codecs = CODECS

    def __init__(self, rules: Rules) -> None:
        self._rules = rules

    def command_of(self, env: codec.Envelope, *, system: bool) -> Message:
        return command_of(env)

    def decide(self, body: Message, env: codec.Envelope, state: CreditState) -> list[Message]:
        command = Command(body, env.producer_bureau, env.event_id, codec.occurred_at(env))
        return decide(command, state, self._rules)

    def evolve(self, state: CreditState, event: Message, env: codec.Envelope) -> None:
        evolve(state, event, Meta(env.event_id, codec.occurred_at(env)))

    def rejection(self, env: codec.Envelope, body: Message, error: DomainError) -> Message:
        return C.CreditCommandRejected(
            subject=getattr(body, "listing_id", "") or env.subject_key,
            command=type(body).__name__,
            reason=error.reason,
            code=error.code,
            actor=env.producer_bureau,
        )

    def fact_key(self, event: Message, cause: codec.Envelope) -> str:
        # A refusal or a fact without an entity stays with its command's key (the USCC).
        return uscc_of_fact(event) or cause.subject_key

    def answer(
        self, env: codec.Envelope, facts: list[codec.Envelope], state: CreditState
    ) -> Message | None:
        return answer(command_of(env), facts, state)

    def rebuild_indexes(self, state: CreditState, tables: Callable) -> Iterator[int]:
        view = dataclasses.replace(
            state, files=tables("files"), **{name: tables(name) for name in DERIVED_INDEXES}
        )
        return rebuilding(view, REBUILD_SLICE)


class CreditProcessor(Processor):
    """Handles one decoded credit command (platform/processor.py says how)."""

    def __init__(
        self,
        state: CreditState,
        stage: Stage,
        journal: Journal,
        rules: Rules,
        publish,
        send_reply,
        fail_stop: Callable[[BaseException], None],
    ) -> None:
        super().__init__(
            state, stage, journal, CreditLogic(rules), publish, send_reply, fail_stop=fail_stop
        )
