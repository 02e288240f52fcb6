"""Faust agents of intake: decode, hand to the processor. Thin by design.

One writer: every command (Kafka submissions and gRPC commands on the submissions topic; clock
ticks and relayed listings on intake's own control topic) is decided by the processor in the
one process that owns both single-partition topics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import faust

from ipcoord.intake.keys import CLOCK
from ipcoord.intake.processor import RELAYED, IntakeProcessor
from ipcoord.platform import codec
from ipcoord.platform.calendar import Clock
from ipcoord.platform.continuity import ContinuityGuard
from ipcoord.platform.deadletter import DeadLetterSink
from ipcoord.platform.faust_app import consume_envelopes
from ipcoord.platform.journal import Source
from ipcoord.platform.offsets import committed_offsets
from ipcoord.platform.request_reply import HEADER_REPLY_TO
from ipcoord.platform.sending import command_sender
from ipcoord.platform.settings import Settings
from ipcoord.v1 import intake_pb2

SERVICE = "intake"
SYSTEM_ACTOR = "ipcoord-intake"


def tick(now: datetime | None = None) -> codec.Envelope:
    """A CheckDeadlines command from intake's own clock."""
    command = intake_pb2.IntakeCommand()
    command.check_deadlines.now.FromDatetime(now or datetime.now(UTC))
    return codec.envelope(command, producer_bureau=SYSTEM_ACTOR, subject_key=CLOCK)


@dataclass(frozen=True)
class IntakeTopics:
    submissions: faust.TopicT
    control: faust.TopicT
    replies: faust.TopicT
    cases: faust.TopicT
    credit: faust.TopicT


def register_agents(
    app: faust.App,
    topics: IntakeTopics,
    processor: IntakeProcessor,
    sink: DeadLetterSink,
    settings: Settings,
    *,
    clock: Clock,
    tick_every_s: float,
    writes_here: Callable[[], bool],
) -> Callable[[], Awaitable[str]]:
    """The decider of both inputs, the listing relay and the deadline clock; returns
    "tick now" (which returns the tick's event id). ``writes_here``: whether this replica
    owns the writer's partition (its clock is the one that ticks)."""
    consume = partial(
        consume_envelopes, sink=sink, service=SERVICE, max_bytes=settings.max_message_bytes
    )
    send_control = command_sender(topics.control)
    redo_lock = asyncio.Lock()
    continuity = ContinuityGuard(settings, app.conf.id)

    async def redo_if_unclean() -> None:
        # After a crash, before the first command: the journal puts back what the tables may
        # have lost or rolled back since the last committed offsets.
        async with redo_lock:
            if processor.needs_redo:
                processor.redo_uncommitted(await committed_offsets(settings, app.conf.id))

    async def decide_one(env: codec.Envelope, event, *, system: bool) -> None:
        message = event.message
        if processor.needs_redo:
            await redo_if_unclean()
        await processor.handle(
            env,
            Source(message.topic, message.partition, message.offset),
            codec.header(event.headers, codec.HEADER_TRACEPARENT),
            system=system,
            reply_to=None if system else codec.header(event.headers, HEADER_REPLY_TO),
        )

    async def relay_listing(env: codec.Envelope, event) -> None:
        # Listings decide fast-track, so they join the single writer's order.
        if isinstance(codec.body_of(env), RELAYED):
            traceparent = codec.header(event.headers, codec.HEADER_TRACEPARENT)
            await send_control(env, traceparent)

    @app.agent(topics.submissions, name="intake-decider")
    async def decider(stream):
        await consume(stream, handle=partial(decide_one, system=False), continuity=continuity)

    @app.agent(topics.control, name="intake-control")
    async def control(stream):
        await consume(stream, handle=partial(decide_one, system=True), continuity=continuity)

    @app.agent(topics.credit, name="intake-listing-relay")
    async def relay_listings(stream):
        await consume(stream, handle=relay_listing)

    async def tick_now() -> str:
        command = tick(clock.now())
        await send_control(command)
        return command.event_id

    @app.timer(interval=tick_every_s, on_leader=False)
    async def deadline_clock():
        # Only the writer's replica: every replica ticking would multiply the ticks by the
        # replicas (harmless, each is decided once, but work for nothing).
        if writes_here():
            await tick_now()

    return tick_now
