"""Faust agents of intake: decode, decide, evolve the tables, publish. Thin by design.

One writer: every command (Kafka submissions, gRPC commands, clock ticks, relayed listings)
goes through the single-partition submissions topic and is decided here in one total order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import faust
from google.protobuf.message import Message

from ipcoord.intake import matching
from ipcoord.intake.domain import Command, Meta, Rules, decide, evolve
from ipcoord.intake.state import IntakeState
from ipcoord.platform import codec, metrics
from ipcoord.platform.calendar import Clock
from ipcoord.platform.deadletter import DeadLetterSink
from ipcoord.platform.errors import DomainError, InvalidInput
from ipcoord.platform.faust_app import consume_envelopes
from ipcoord.v1 import credit_pb2, intake_pb2

log = logging.getLogger(__name__)

SERVICE = "intake"
SYSTEM_ACTOR = "ipcoord-intake"
_RELAYED = (credit_pb2.SeriousDishonestyListed, credit_pb2.ListingRemoved)
_RELAYED_BODIES = ("serious_dishonesty_listed", "listing_removed")


@dataclass
class Outcome:
    events: list[codec.Envelope]
    error: DomainError | None = None


class PendingReplies:
    """gRPC calls waiting for the writer's decision on the command they published."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}

    def expect(self, event_id: str) -> asyncio.Future[Outcome]:
        future = asyncio.get_running_loop().create_future()
        self._waiting[event_id] = future
        return future

    def forget(self, event_id: str) -> None:
        self._waiting.pop(event_id, None)

    def waiting(self, event_id: str) -> bool:
        return event_id in self._waiting

    def resolve(self, event_id: str, outcome: Outcome) -> None:
        future = self._waiting.pop(event_id, None)
        if future is not None and not future.done():
            future.set_result(outcome)


def command_of(env: codec.Envelope) -> Message | None:
    """The command inside a submissions-topic envelope; None for relayed facts."""
    body = codec.body_of(env)
    if isinstance(body, intake_pb2.IntakeCommand):
        which = body.WhichOneof("command")
        if which is None:
            raise codec.InvalidEnvelope("IntakeCommand has no command set", "ValidationError")
        return getattr(body, which)
    if isinstance(body, intake_pb2.ReportSubmitted):
        return body
    if isinstance(body, _RELAYED):
        return None
    raise codec.InvalidEnvelope(
        f"{env.event_type} does not belong on the submissions topic", "UnexpectedEventType"
    )


class IntakeProcessor:
    """Handles one decoded envelope from the submissions topic. Idempotent by event id."""

    def __init__(
        self,
        state,
        processed,
        rules: Rules,
        publish,
        replies: PendingReplies,
        on_publish_failure: Callable[[BaseException], None],
    ) -> None:
        self.state: IntakeState = state
        self._processed = processed  # event id -> True (a Faust table in the service)
        self._rules = rules
        # async (key, envelope, parent traceparent) -> awaitable of the broker's ack
        self._publish = publish
        self._replies = replies
        self._on_publish_failure = on_publish_failure

    async def handle(self, env: codec.Envelope, traceparent: str | None = None) -> None:
        """``traceparent``: the command record's, so its facts continue the caller's trace."""
        if self._processed.get(env.event_id):
            # Redelivered after a crash or rebalance: its effects are already in the tables.
            self._replies.resolve(env.event_id, Outcome([]))
            return
        body = command_of(env)
        if body is None:
            fact = codec.body_of(env)
            evolve(
                self.state, fact, Meta(env.event_id, codec.occurred_at(env), env.producer_bureau)
            )
            self._processed[env.event_id] = True
            return
        command = Command(body, env.producer_bureau, env.event_id, codec.occurred_at(env))
        error: DomainError | None = None
        try:
            events = decide(command, self.state, self._rules)
        except DomainError as refusal:
            error, events = refusal, [self._rejection(env, body, refusal)]
        published, acks = await self._emit(events, env, traceparent, apply=error is None)
        if error is not None or not isinstance(body, intake_pb2.ReportSubmitted):
            # An accepted report needs no mark: the submission index already makes a second
            # delivery a no-op, and one table write less per report is ~15 % throughput.
            self._processed[env.event_id] = True
        if self._replies.waiting(env.event_id):
            # A caller waits: answer once its facts are acknowledged by the broker.
            await asyncio.gather(*acks)
            self._replies.resolve(env.event_id, Outcome([] if error else published, error))

    async def _emit(
        self, events: list[Message], cause: codec.Envelope, traceparent: str | None, apply: bool
    ) -> tuple[list[codec.Envelope], list[asyncio.Future]]:
        """Wrap, apply (unless they record a refusal) and send the facts of one command."""
        published = []
        for event in events:
            out = codec.envelope(
                event,
                producer_bureau=cause.producer_bureau,
                subject_key=subject_key(event, cause),
                correlation_id=cause.correlation_id or cause.event_id,
                causation_id=cause.event_id,
                occurred_at=codec.occurred_at(cause),
            )
            if apply:
                evolve(
                    self.state,
                    event,
                    Meta(out.event_id, codec.occurred_at(out), cause.producer_bureau),
                )
            published.append(out)
        acks = []
        for out in published:
            ack = await self._publish(out.subject_key, out, traceparent)
            # Faust flushes the producer before it commits the command's offset, so the facts
            # are durable before the command counts as done. A fact the broker refused for good
            # ends the process uncommitted (platform.failstop): the command is
            # redelivered and decided again, never half-applied.
            ack.add_done_callback(self._check_ack)
            acks.append(ack)
            metrics.EVENTS_PRODUCED.labels(SERVICE, "cases", out.event_type).inc()
        return published, acks

    def _check_ack(self, ack: asyncio.Future) -> None:
        if ack.cancelled():
            self._on_publish_failure(asyncio.CancelledError("fact publication cancelled"))
        elif ack.exception() is not None:
            self._on_publish_failure(ack.exception())

    @staticmethod
    def _rejection(env: codec.Envelope, body: Message, error: DomainError) -> Message:
        if isinstance(body, intake_pb2.ReportSubmitted) and isinstance(error, InvalidInput):
            return intake_pb2.SubmissionRejected(
                submitting_bureau=env.producer_bureau,
                external_ref=body.external_ref,
                submission_event_id=env.event_id,
                violations=[
                    intake_pb2.FieldViolation(field=v.field, description=v.description)
                    for v in error.violations
                ],
            )
        return intake_pb2.CaseCommandRejected(
            subject_id=getattr(body, "case_id", "") or getattr(body, "action_id", ""),
            command=type(body).__name__,
            reason=f"{error.code.name}: {error.reason}",
            actor_bureau=env.producer_bureau,
        )


def subject_key(event: Message, cause: codec.Envelope) -> str:
    """The Kafka key on ipcoord.cases.v1: the case id, else the thing the fact is about."""
    for attr in ("case_id", "action_id"):
        value = getattr(event, attr, "")
        if value:
            return value
    match event:
        case intake_pb2.SubmissionRejected():
            return f"{event.submitting_bureau}/{event.external_ref}"
        case intake_pb2.CaseCommandRejected():
            return event.subject_id or cause.subject_key
        case intake_pb2.RespondentIdentified():
            # Keyed by the identifier: re-identifications of one seller stay in order.
            return matching.online_keys(event.online_identifier)[0]
        case intake_pb2.TargetEnterpriseRegistered():
            return event.enterprise.uscc
        case intake_pb2.TargetEnterpriseRemoved():
            return event.uscc
    return cause.subject_key


def tick(now: datetime | None = None) -> codec.Envelope:
    """A CheckDeadlines command from intake's own clock."""
    command = intake_pb2.IntakeCommand()
    command.check_deadlines.now.FromDatetime(now or datetime.now(UTC))
    return codec.envelope(command, producer_bureau=SYSTEM_ACTOR, subject_key="clock")


# ---------------------------------------------------------------------------------- wiring


@dataclass(frozen=True)
class IntakeTopics:
    submissions: faust.TopicT
    cases: faust.TopicT
    credit: faust.TopicT


def fact_publisher(topics: IntakeTopics):
    """(key, fact envelope, parent traceparent) -> the broker's ack, to await or not."""

    async def publish(key: str, env: codec.Envelope, traceparent: str | None = None):
        return await topics.cases.send(
            key=key.encode(),
            value=codec.encode(env),
            headers=codec.headers(env, parent_traceparent=traceparent),
        )

    return publish


def command_sender(topics: IntakeTopics) -> Callable[..., Awaitable[None]]:
    """Puts a command on the submissions topic and returns once the broker has it."""

    async def send(env: codec.Envelope, traceparent: str | None = None) -> None:
        ack = await topics.submissions.send(
            key=env.subject_key.encode(),
            value=codec.encode(env),
            headers=codec.headers(env, parent_traceparent=traceparent),
        )
        await ack

    return send


def register_agents(
    app: faust.App,
    topics: IntakeTopics,
    processor: IntakeProcessor,
    sink: DeadLetterSink,
    *,
    max_bytes: int,
    clock: Clock,
    tick_every_s: float,
) -> Callable[[], Awaitable[None]]:
    """The decider, the listing relay and the deadline clock; returns "tick now"."""
    consume = partial(consume_envelopes, sink=sink, service=SERVICE, max_bytes=max_bytes)
    send_command = command_sender(topics)

    async def decide_one(env: codec.Envelope, event) -> None:
        await processor.handle(env, codec.header(event.headers, codec.HEADER_TRACEPARENT))

    async def relay_listing(env: codec.Envelope, event) -> None:
        # Listings decide fast-track, so they join the single writer's order.
        if env.WhichOneof("body") in _RELAYED_BODIES:
            traceparent = codec.header(event.headers, codec.HEADER_TRACEPARENT)
            ack = await topics.submissions.send(
                key=event.key,
                value=event.value,
                headers=codec.headers(env, parent_traceparent=traceparent),
            )
            await ack

    @app.agent(topics.submissions, name="intake-decider")
    async def decider(stream):
        await consume(stream, handle=decide_one)

    @app.agent(topics.credit, name="intake-listing-relay")
    async def relay_listings(stream):
        await consume(stream, handle=relay_listing)

    async def tick_now() -> None:
        await send_command(tick(clock.now()))

    @app.timer(interval=tick_every_s, on_leader=False)
    async def deadline_clock():
        await tick_now()

    return tick_now
