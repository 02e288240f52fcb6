"""Faust agents of the notifications service: the relay of every fact on ipcoord.cases.v1 and
ipcoord.credit.v1 to the router, the router, the recipients' writers, and their publishers
(the router's routes become commands for the recipients' writers; a recorded notification
wakes its streams and its webhooks once the broker has it). Thin by design."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import faust
from google.protobuf.message import Message

from ipcoord.notifications.processor import ROUTE_KEY, SERVICE, recipient_of
from ipcoord.platform import codec
from ipcoord.platform.commands import command_envelope
from ipcoord.platform.continuity import ContinuityGuard
from ipcoord.platform.deadletter import DeadLetterSink
from ipcoord.platform.faust_app import consume_envelopes
from ipcoord.platform.ownership import partition_of
from ipcoord.platform.processor import Processor
from ipcoord.platform.sending import command_sender
from ipcoord.platform.settings import Settings
from ipcoord.platform.topics import NOTIFICATIONS_COMMANDS
from ipcoord.platform.writer import partitioned_writer
from ipcoord.v1 import notifications_pb2 as N

SYSTEM_ACTOR = "ipcoord-notifications"
Publish = Callable[..., Awaitable[asyncio.Future]]  # platform.sending.fact_publisher
# The largest fact routed: its RouteFact must fit in a record of the routing topic.
ROUTED_FACT_MAX = 512 * 1024


@dataclass(frozen=True)
class NotificationTopics:
    routing: faust.TopicT
    commands: faust.TopicT
    replies: faust.TopicT
    notifications: faust.TopicT
    cases: faust.TopicT
    credit: faust.TopicT


def command(body: Message, **made) -> codec.Envelope:
    """A NotificationCommand envelope (platform/commands.py)."""
    return command_envelope(N.NotificationCommand, body, **made)


def to_route(raw: bytes, env: codec.Envelope) -> codec.Envelope:
    """The router's command for a fact read on ipcoord.cases.v1 or ipcoord.credit.v1: the
    fact's bytes as they were read."""
    if len(raw) > ROUTED_FACT_MAX:
        raise codec.InvalidEnvelope(
            f"a fact of {len(raw)} bytes is not routed (at most {ROUTED_FACT_MAX})",
            "OversizedFact",
        )
    # Stamped now: a notification's recorded_at is when it was routed, its occurred_at the
    # fact's own time.
    return command(
        N.RouteFact(fact=raw), actor=SYSTEM_ACTOR, key=ROUTE_KEY, cause=env, at=datetime.now(UTC)
    )


def publishing_routes(publish_fact: Publish, publish_command: Publish) -> Publish:
    """The router's publisher: a routed fact becomes one NotificationRouted command per
    recipient, for the writer of that recipient (ids derived from the routed fact's, the same
    when the journal publishes them again after a crash); a subscription change goes to its
    recipient's writer too (which puts it on ipcoord.notifications.v1 and stops the webhooks
    of a removed one); a refusal goes on ipcoord.notifications.v1."""

    async def publish(key: str, env: codec.Envelope, traceparent: str | None = None):
        body = codec.body_of(env)
        if isinstance(body, N.SubscriptionChanged):
            recipient = body.subscription.recipient
            made = command(body, actor=SYSTEM_ACTOR, key=recipient, cause=env)
            return await publish_command(recipient, made, traceparent)
        if not isinstance(body, N.FactRouted):
            return await publish_fact(key, env, traceparent)
        acks = []
        for n, route in enumerate(body.routes):
            made = command(route, actor=SYSTEM_ACTOR, key=route.recipient, cause=env, n=n)
            acks.append(await publish_command(route.recipient, made, traceparent))
        return asyncio.gather(*acks)  # the processor checks them all (none: done at once)

    return publish


def publishing_and_telling(
    publish_fact: Publish, publishing: Callable[[Message], None], told: Callable[[Message], None]
) -> Publish:
    """A recipient writer's publisher: each fact on ipcoord.notifications.v1, with
    ``publishing`` before it is sent and ``told`` once the broker has it (open streams and the
    webhook deliverer hear of it then, so nothing is delivered that a crash could take back)."""

    async def publish(key: str, env: codec.Envelope, traceparent: str | None = None):
        body = codec.body_of(env)
        publishing(body)
        ack = await publish_fact(key, env, traceparent)

        def tell(done: asyncio.Future) -> None:
            if not done.cancelled() and done.exception() is None:
                told(body)

        ack.add_done_callback(tell)
        return ack

    return publish


def check_routed(env: codec.Envelope, partition: int) -> None:
    """A recipient's command on a partition other than its recipient's would be numbered by a
    second writer of that recipient, in another partition's tables: refused."""
    body = codec.body_of(env)
    which = body.WhichOneof("command") if isinstance(body, N.NotificationCommand) else None
    if which is None:
        return  # the writer refuses it, saying why
    recipient = recipient_of(getattr(body, which))
    expected = partition_of(recipient, NOTIFICATIONS_COMMANDS.partitions)
    if expected != partition:
        raise codec.InvalidEnvelope(
            f"a command for {recipient[:100]!r} arrived on partition {partition}; its "
            f"recipient's partition is {expected}",
            "MisroutedCommand",
        )


def register_agents(
    app: faust.App,
    topics: NotificationTopics,
    router: Processor,
    recipients: Processor,
    sink: DeadLetterSink,
    settings: Settings,
) -> None:
    """The relay of both fact topics, the router and the recipients' writers."""
    consume = partial(
        consume_envelopes, sink=sink, service=SERVICE, max_bytes=settings.max_message_bytes
    )
    # Not waiting for each ack: one relay reads every partition of a topic in turn, and a
    # wait per record would queue the next ones behind it. Faust flushes the producer before
    # it commits the offsets, and a send the broker refuses stops the process uncommitted.
    send_route = command_sender(topics.routing, wait=False)

    async def relay(env: codec.Envelope, event) -> None:
        traceparent = codec.header(event.headers, codec.HEADER_TRACEPARENT)
        await send_route(to_route(event.value, env), traceparent)

    route_one = partitioned_writer(router, settings, app.conf.id)
    write_recipient = partitioned_writer(recipients, settings, app.conf.id)

    async def record_one(env: codec.Envelope, event) -> None:
        check_routed(env, event.message.partition)
        await write_recipient(env, event)

    route_guard = ContinuityGuard(settings, app.conf.id)
    record_guard = ContinuityGuard(settings, app.conf.id)

    @app.agent(topics.routing, name="notifications-router")
    async def route(stream):
        await consume(stream, handle=route_one, continuity=route_guard)

    @app.agent(topics.commands, name="notifications-recipients")
    async def record(stream):
        await consume(stream, handle=record_one, continuity=record_guard)

    @app.agent(topics.cases, name="notifications-cases-relay")
    async def cases(stream):
        await consume(stream, handle=relay)

    @app.agent(topics.credit, name="notifications-credit-relay")
    async def credit(stream):
        await consume(stream, handle=relay)
