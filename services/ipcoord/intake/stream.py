"""Faust agents of intake: decode, hand to a writer. Thin by design.

- The matcher (one partition) reads the submissions topic (bureau systems' reports and
  commands, and the gRPC edge's) and intake's control topic (listings relayed from credit,
  case facts relayed from the case writers). A case's command on the submissions topic goes
  on to the case's writer as it is.
- The case writers read ipcoord.intake.casework.v1, one writer per partition.
- Each replica's clock ticks the case partitions it owns.

The publishers below route what each writer decides (docs/intake.md, "Two writers")."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import faust

from ipcoord.intake.keys import CLOCK, partition_of
from ipcoord.intake.processor import (
    CLOSING_COMMANDS,
    COPIED_FACTS,
    MATCHED_FACTS,
    RELAYED,
    SERVICE,
    STANDING_FACTS,
    case_command_of,
    closing_outcome_of,
    intake_command,
)
from ipcoord.platform import codec
from ipcoord.platform.calendar import Clock
from ipcoord.platform.continuity import ContinuityGuard
from ipcoord.platform.deadletter import DeadLetterSink
from ipcoord.platform.faust_app import consume_envelopes
from ipcoord.platform.ids import derived_event_id
from ipcoord.platform.journal import Source
from ipcoord.platform.offsets import committed_offsets
from ipcoord.platform.processor import Processor
from ipcoord.platform.request_reply import HEADER_REPLY_TO
from ipcoord.platform.sending import command_sender, fail_stop_if_refused
from ipcoord.platform.settings import Settings
from ipcoord.platform.topics import INTAKE_CASEWORK
from ipcoord.platform.writer import partitioned_writer
from ipcoord.v1 import intake_pb2

SYSTEM_ACTOR = "ipcoord-intake"
# How long the matcher waits for a case writer's outcome of a closing command from a bureau
# system before matching goes on (a case writer away that long: a takeover under way).
CLOSING_WAIT_S = 30.0
log = logging.getLogger(__name__)
Publish = Callable[..., Awaitable[asyncio.Future]]


@dataclass(frozen=True)
class IntakeTopics:
    submissions: faust.TopicT
    control: faust.TopicT
    casework: faust.TopicT
    replies: faust.TopicT
    cases: faust.TopicT
    credit: faust.TopicT


def tick(partition: int, now: datetime | None = None) -> codec.Envelope:
    """A CheckDeadlines from intake's own clock for one partition of the case writers."""
    command = intake_pb2.IntakeCommand()
    check = command.check_deadlines
    check.now.FromDatetime(now or datetime.now(UTC))
    check.partition, check.partition_count = partition, INTAKE_CASEWORK.partitions
    return codec.envelope(command, producer_bureau=SYSTEM_ACTOR, subject_key=CLOCK)


def sender(topic: faust.TopicT) -> Publish:
    """(envelope, traceparent, partition, reply_to) -> the broker's ack (to await or not)."""

    async def send(
        env: codec.Envelope,
        traceparent: str | None = None,
        *,
        partition: int | None = None,
        reply_to: str | None = None,
    ) -> asyncio.Future:
        headers = codec.headers(env, parent_traceparent=traceparent)
        if reply_to:
            headers.append((HEADER_REPLY_TO, reply_to.encode()))
        return await topic.send(
            key=env.subject_key.encode(),
            value=codec.encode(env),
            headers=headers,
            partition=partition,
        )

    return send


def case_work(work: intake_pb2.CaseWork, fact: codec.Envelope, n: int = 0) -> codec.Envelope:
    """The record that carries a fact to a case writer: its id derived from the fact's (the
    same when the matcher's journal publishes the fact again), so the writer takes it once."""
    return codec.envelope(
        work,
        producer_bureau=fact.producer_bureau,
        subject_key=fact.subject_key,
        occurred_at=codec.occurred_at(fact),
        event_id=derived_event_id(fact.event_id, n),
        correlation_id=fact.correlation_id,
        causation_id=fact.event_id,
    )


def _done() -> asyncio.Future:
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


def matcher_publisher(publish_fact: Publish, send_work: Publish) -> Publish:
    """Where the matcher's facts go: a case fact to the case's writer (which applies it, then
    publishes it as it is); an identification on ipcoord.cases.v1 and a copy to every case
    partition (a respondent's cases are found through it there); a barrier to its partition
    with the caller's reply address; everything else on ipcoord.cases.v1."""

    async def publish(
        key: str, env: codec.Envelope, traceparent: str | None = None, reply_to: str | None = None
    ):
        body = codec.body_of(env)
        if isinstance(body, intake_pb2.CaseWork):  # a part of the caller's reply
            if not reply_to:
                return _done()  # no caller waits (a bureau system's record on Kafka)
            partition = body.barrier.partition
            return await send_work(env, traceparent, partition=partition, reply_to=reply_to)
        if isinstance(body, MATCHED_FACTS):
            work = case_work(intake_pb2.CaseWork(fact=codec.encode(env)), env)
            return await send_work(work, traceparent)
        acks = [await publish_fact(key, env, traceparent)]
        if isinstance(body, COPIED_FACTS):
            copy = intake_pb2.CaseWork(copy=codec.encode(env))
            for partition in range(INTAKE_CASEWORK.partitions):
                made = case_work(copy, env, n=1 + partition)
                acks.append(await send_work(made, traceparent, partition=partition))
        return asyncio.gather(*acks)  # the processor checks them all

    return publish


def case_writer_publisher(publish_fact: Publish, send_control: Publish) -> Publish:
    """Where a case writer's facts go: on ipcoord.cases.v1, and a fact that changes the case's
    standing to the matcher as well (it is the same fact: the matcher takes it once), with
    the caller's reply address: the caller is answered once the matcher has it too (a lookup
    of an action's progress reads the matcher's counts)."""

    async def publish(
        key: str, env: codec.Envelope, traceparent: str | None = None, reply_to: str | None = None
    ):
        ack = await publish_fact(key, env, traceparent)
        body = codec.body_of(env)
        if isinstance(body, STANDING_FACTS):
            relayed = await send_control(env, traceparent, reply_to=reply_to)
        elif closing_outcome_of(body):  # the matcher waits for it (register_agents)
            relayed = await send_control(env, traceparent)
        else:
            return ack
        return asyncio.gather(ack, relayed)

    return publish


def check_routed(env: codec.Envelope, partition: int) -> None:
    """A case's record on another partition than its case's would be written into another
    partition's tables and changelog (a second writer of the case): refused. A tick checks the
    cases of the partition it names; a copy goes to every partition."""
    body = codec.body_of(env)
    if isinstance(body, intake_pb2.CaseWork):
        which = body.WhichOneof("work")
        if which == "copy":
            return
        if which == "barrier":
            expected = body.barrier.partition
        else:
            expected = partition_of(env.subject_key, INTAKE_CASEWORK.partitions)
    else:
        command = intake_command(env)
        if command is None:
            return  # the writer refuses it, saying why
        which, inner = command
        if which == "check_deadlines":
            if not inner.partition_count or inner.partition == partition:
                return
            expected = inner.partition
        else:
            expected = partition_of(getattr(inner, "case_id", ""), INTAKE_CASEWORK.partitions)
    if expected != partition:
        raise codec.InvalidEnvelope(
            f"{env.event_type} for {env.subject_key[:100]!r} arrived on partition {partition}; "
            f"it belongs on partition {expected}",
            "MisroutedCommand",
        )


def register_agents(
    app: faust.App,
    topics: IntakeTopics,
    matcher: Processor,
    case_writer: Processor,
    sink: DeadLetterSink,
    settings: Settings,
    *,
    clock: Clock,
    tick_every_s: float,
) -> Callable[[], Awaitable[list[str]]]:
    """The matcher on both its topics, the case writers, the listing relay and the clock;
    returns "tick now" (which returns the ticks' event ids)."""
    consume = partial(
        consume_envelopes, sink=sink, service=SERVICE, max_bytes=settings.max_message_bytes
    )
    send_work = sender(topics.casework)
    # Not waiting for the ack of a relayed listing: Faust flushes the producer before it
    # commits the offset of the record read, and a send the broker refuses for good stops the
    # process uncommitted (platform/sending.py).
    relay_to_control = command_sender(topics.control, wait=False)
    redo_lock = asyncio.Lock()

    async def redo_if_unclean() -> None:
        # After a crash, before the matcher's first command: the journal puts back what its
        # tables may have lost or rolled back since the last committed offsets.
        async with redo_lock:
            if matcher.needs_redo:
                matcher.redo_uncommitted(await committed_offsets(settings, app.conf.id))

    # The closing commands from bureau systems whose case writer's outcome the matcher awaits
    # (by the command's event id: the outcome is a fact it caused).
    closing: dict[str, asyncio.Future] = {}

    async def relay_case_command(env: codec.Envelope, case_id: str, traceparent, reply_to):
        # The case's writer decides it, on the case's partition whatever key its sender gave it.
        partition = partition_of(case_id, INTAKE_CASEWORK.partitions)
        if intake_command(env)[0] not in CLOSING_COMMANDS:
            ack = await send_work(env, traceparent, partition=partition, reply_to=reply_to)
            ack.add_done_callback(fail_stop_if_refused)  # not waited for, like the relays
            return
        # A report after it must find the case closed, as one writer deciding both would:
        # the matcher's order waits for the outcome (a Kafka round trip).
        outcome = closing.setdefault(env.event_id, asyncio.get_running_loop().create_future())
        try:
            await (await send_work(env, traceparent, partition=partition, reply_to=reply_to))
            await asyncio.wait_for(asyncio.shield(outcome), CLOSING_WAIT_S)
        except TimeoutError:
            log.warning(
                "no outcome of a closing command in time; matching goes on",
                extra={"command": env.event_id, "case": case_id},
            )
        finally:
            closing.pop(env.event_id, None)

    def closing_decided(env: codec.Envelope) -> None:
        body = codec.body_of(env)
        if isinstance(body, STANDING_FACTS) or closing_outcome_of(body):
            waiting = closing.get(env.causation_id)
            if waiting is not None and not waiting.done():
                waiting.set_result(None)

    async def match_one(env: codec.Envelope, event, *, system: bool) -> None:
        message = event.message
        traceparent = codec.header(event.headers, codec.HEADER_TRACEPARENT)
        reply_to = codec.header(event.headers, HEADER_REPLY_TO)
        if not system and (case_id := case_command_of(env)) is not None:
            await relay_case_command(env, case_id, traceparent, reply_to)
            return
        if matcher.needs_redo:
            await redo_if_unclean()
        await matcher.handle(
            env,
            Source(message.topic, message.partition, message.offset),
            traceparent,
            system=system,
            reply_to=reply_to,
        )
        if system:
            closing_decided(env)

    write_case = partitioned_writer(case_writer, settings, app.conf.id)

    async def write_one(env: codec.Envelope, event) -> None:
        check_routed(env, event.message.partition)
        await write_case(env, event)

    async def relay_listing(env: codec.Envelope, event) -> None:
        # Listings decide fast-track at filing, so they join the matcher's order.
        if isinstance(codec.body_of(env), RELAYED):
            traceparent = codec.header(event.headers, codec.HEADER_TRACEPARENT)
            await relay_to_control(env, traceparent)

    matcher_guard = ContinuityGuard(settings, app.conf.id)

    @app.agent(topics.submissions, name="intake-matcher")
    async def submissions(stream):
        await consume(stream, handle=partial(match_one, system=False), continuity=matcher_guard)

    @app.agent(topics.control, name="intake-matcher-control")
    async def control(stream):
        await consume(stream, handle=partial(match_one, system=True), continuity=matcher_guard)

    @app.agent(topics.casework, name="intake-case-writers")
    async def casework(stream):
        await consume(stream, handle=write_one, continuity=ContinuityGuard(settings, app.conf.id))

    @app.agent(topics.credit, name="intake-listing-relay")
    async def relay_listings(stream):
        await consume(stream, handle=relay_listing)

    async def tick_now(now: datetime | None = None) -> list[str]:
        """A CheckDeadlines to every case partition this replica owns."""
        owned = {
            tp.partition
            for tp in app.assignor.assigned_actives()
            if tp.topic == topics.casework.get_topic_name()
        }
        ids = []
        for partition in sorted(owned):
            made = tick(partition, now or clock.now())
            await (await send_work(made, partition=partition))
            ids.append(made.event_id)
        return ids

    @app.timer(interval=tick_every_s, on_leader=False)
    async def deadline_clock():
        await tick_now()

    return tick_now
