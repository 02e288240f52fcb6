"""Faust agents of credit records: the writer per entity, the relays onto credit's own command
topic (intake's decisions and identifications, departments' feedback), the writer's publisher
(which also sends the command that counts a decision released from an online key), and the
clock. Thin by design."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import faust

from ipcoord.credit.domain.online import ONLINE_KEY_MAX
from ipcoord.credit.keys import CLOCK
from ipcoord.credit.processor import CreditProcessor
from ipcoord.credit.state import online_subject, uscc_of_listing
from ipcoord.platform import codec
from ipcoord.platform.calendar import Clock
from ipcoord.platform.commands import command_envelope
from ipcoord.platform.continuity import ContinuityGuard
from ipcoord.platform.deadletter import DeadLetterSink
from ipcoord.platform.faust_app import consume_envelopes
from ipcoord.platform.sending import command_sender
from ipcoord.platform.settings import Settings
from ipcoord.platform.topics import CREDIT_COMMANDS
from ipcoord.platform.writer import partitioned_writer
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import intake_pb2

SERVICE = "credit"
SYSTEM_ACTOR = "ipcoord-credit"
Publish = Callable[..., Awaitable[asyncio.Future]]  # platform.sending.fact_publisher


@dataclass(frozen=True)
class CreditTopics:
    commands: faust.TopicT
    replies: faust.TopicT
    credit: faust.TopicT
    cases: faust.TopicT
    feedback: faust.TopicT


def command(
    body, *, actor: str, key: str, cause: codec.Envelope | None = None, at=None, n: int = 0
):
    """A CreditCommand envelope (platform/commands.py)."""
    return command_envelope(C.CreditCommand, body, actor=actor, key=key, cause=cause, at=at, n=n)


def from_intake(env: codec.Envelope) -> list[codec.Envelope]:
    """The commands a fact of intake's makes for credit (none for most):

    - a decided case against a USCC: a NoteDecidedCase for the entity's writer;
    - a decided case against respondents known only online: a HoldDecidedCase under each of
      their online keys (credit/domain/online.py);
    - a respondent identified: an IdentifyOnlineRespondent under each key of the identifier.
    """
    body = codec.body_of(env)
    if isinstance(body, intake_pb2.RespondentIdentified):
        identified = [
            C.IdentifyOnlineRespondent(online_key=k, entity=body.entity, by_bureau=body.by_bureau)
            for k in body.online_keys
        ]
        return [_under_online_key(c, body.by_bureau, env, n) for n, c in enumerate(identified)]
    if not isinstance(body, intake_pb2.CaseDecided):
        return []
    decision = body.decision
    note = C.NoteDecidedCase(
        case_id=body.case_id,
        respondent={"uscc": decision.respondent_uscc},
        by_bureau=body.by_bureau,
        infringement_established=decision.infringement_established,
        refused_to_comply=decision.respondent_refused_to_comply,
    )
    note.decided_at.FromDatetime(codec.occurred_at(env))
    if decision.respondent_uscc:
        return [command(note, actor=body.by_bureau, key=decision.respondent_uscc, cause=env)]
    held = [C.HoldDecidedCase(online_key=k, decision=note) for k in body.respondent_online_keys]
    return [_under_online_key(c, body.by_bureau, env, n) for n, c in enumerate(held)]


def _under_online_key(body, actor: str, cause: codec.Envelope, n: int) -> codec.Envelope:
    if len(body.online_key) > ONLINE_KEY_MAX:  # a Kafka key: checked before it is one
        raise codec.InvalidEnvelope(
            f"online key longer than {ONLINE_KEY_MAX} characters", "ValidationError"
        )
    return command(body, actor=actor, key=online_subject(body.online_key), cause=cause, n=n)


def released_decision(env: codec.Envelope) -> codec.Envelope | None:
    """A decision released from an online key (a fact the writer is publishing): the command
    that counts it at the writer of the entity identified behind it. None for other facts."""
    body = codec.body_of(env)
    if not isinstance(body, C.DecidedCaseReleased):
        return None
    return command(body.decision, actor=body.decision.by_bureau, key=body.entity.uscc, cause=env)


def declared_feedback(env: codec.Envelope) -> codec.Envelope:
    """A department's feedback from Kafka, as a command for the writer of its entity, marked
    as declared (not proven): records are not signed yet."""
    body = codec.body_of(env)
    if not isinstance(body, C.DisciplineFeedbackSubmitted):
        raise codec.InvalidEnvelope(
            f"{env.event_type} does not belong on the feedback topic", "UnexpectedEventType"
        )
    uscc = uscc_of_listing(body.listing_id)
    if uscc is None:
        raise codec.InvalidEnvelope(
            f"listing_id {body.listing_id[:100]!r} is not a listing id (L-<USCC>-<n>)",
            "UnknownListing",
        )
    feedback = C.DisciplineFeedbackSubmitted()
    feedback.CopyFrom(body)
    feedback.path = C.FEEDBACK_PATH_KAFKA_DECLARED
    return command(feedback, actor=env.producer_bureau, key=uscc, cause=env)


def publishing_releases(publish_fact: Publish, publish_command: Publish) -> Publish:
    """The writer's publisher of facts: each fact on ipcoord.credit.v1 and, for a decision
    released from an online key, its NoteDecidedCase on credit's own command topic, sent with
    the fact (the same derived id when the journal publishes it again after a crash). So
    ipcoord.credit.v1, which every bureau reads, is never an input of credit's."""

    async def publish(key: str, env: codec.Envelope, traceparent: str | None = None):
        ack = await publish_fact(key, env, traceparent)
        made = released_decision(env)
        if made is None:
            return ack
        counted = await publish_command(made.subject_key, made, traceparent)
        return asyncio.gather(ack, counted)  # the processor checks both acks

    return publish


def _check_routed(env: codec.Envelope, partition: int) -> None:
    """A tick checks the entities of the partition it names; on another partition it would
    write their files into the wrong partition's store and changelog."""
    body = codec.body_of(env)
    if isinstance(body, C.CreditCommand) and body.WhichOneof("command") == "check_deadlines":
        tick = body.check_deadlines
        if tick.partition_count and tick.partition != partition:
            raise codec.InvalidEnvelope(
                f"a tick for partition {tick.partition} arrived on partition {partition}",
                "MisroutedTick",
            )


def register_agents(
    app: faust.App,
    topics: CreditTopics,
    processor: CreditProcessor,
    sink: DeadLetterSink,
    settings: Settings,
    *,
    clock: Clock,
    tick_every_s: float,
) -> Callable[[], Awaitable[list[str]]]:
    """The writer, both relays and the clock; returns "tick now" (the ticks' event ids)."""
    consume = partial(
        consume_envelopes, sink=sink, service=SERVICE, max_bytes=settings.max_message_bytes
    )
    send_command = command_sender(topics.commands)
    continuity = ContinuityGuard(settings, app.conf.id)

    write = partitioned_writer(processor, settings, app.conf.id)

    async def decide_one(env: codec.Envelope, event) -> None:
        _check_routed(env, event.message.partition)
        await write(env, event)

    async def relay_intake(env: codec.Envelope, event) -> None:
        for made in from_intake(env):
            await send_command(made, codec.header(event.headers, codec.HEADER_TRACEPARENT))

    async def relay_feedback(env: codec.Envelope, event) -> None:
        traceparent = codec.header(event.headers, codec.HEADER_TRACEPARENT)
        await send_command(declared_feedback(env), traceparent)

    @app.agent(topics.commands, name="credit-writer")
    async def writer(stream):
        await consume(stream, handle=decide_one, continuity=continuity)

    @app.agent(topics.cases, name="credit-decisions-relay")
    async def decisions(stream):
        await consume(stream, handle=relay_intake)

    @app.agent(topics.feedback, name="credit-feedback-relay")
    async def feedback(stream):
        await consume(stream, handle=relay_feedback)

    async def tick_now(now: datetime | None = None) -> list[str]:
        """A CheckCreditDeadlines to every command partition this replica owns."""
        ids = []
        owned = {
            tp.partition
            for tp in app.assignor.assigned_actives()
            if tp.topic == topics.commands.get_topic_name()
        }
        count = CREDIT_COMMANDS.partitions  # the registry's, which topics create uses
        for partition in sorted(owned):
            tick = C.CheckCreditDeadlines(partition=partition, partition_count=count)
            tick.now.FromDatetime(now or clock.now())
            env = command(tick, actor=SYSTEM_ACTOR, key=CLOCK, at=now or clock.now())
            ack = await topics.commands.send(
                key=CLOCK.encode(),
                value=codec.encode(env),
                headers=codec.headers(env),
                partition=partition,
            )
            await ack
            ids.append(env.event_id)
        return ids

    @app.timer(interval=tick_every_s, on_leader=False)
    async def deadline_clock():
        await tick_now()

    return tick_now
