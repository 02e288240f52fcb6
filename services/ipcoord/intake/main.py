"""Composition root of the intake service: settings -> rules, Faust app, tables, agents, gRPC."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from dataclasses import dataclass
from functools import partial

import faust

from ipcoord.intake.api import CaseIntakeServicer
from ipcoord.intake.domain import Rules
from ipcoord.intake.state import Action, Case, HistoryEntry, IntakeState, Link
from ipcoord.intake.stream import SERVICE, IntakeProcessor, PendingReplies, tick
from ipcoord.platform import codec, state_codec
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.calendar import Clock, SystemClock, WorkingCalendar
from ipcoord.platform.faust_app import (
    consume_envelopes,
    create_app,
    dead_letter_sink,
    envelope_topic,
)
from ipcoord.platform.grpc_server import create_server
from ipcoord.platform.identity import IdentityResolver
from ipcoord.platform.logs import configure_logging
from ipcoord.platform.metrics import serve_metrics
from ipcoord.platform.runner import ServiceHandle, fail_stop
from ipcoord.platform.settings import Settings
from ipcoord.platform.topics import CASES, CREDIT, INTAKE_SUBMISSIONS
from ipcoord.v1 import intake_pb2_grpc

log = logging.getLogger(__name__)

_STATE_CODEC = state_codec.register("ipcoord-intake-state", Case, Action, Link, HistoryEntry)

DEFAULT_GRPC_PORT = 50051
_RELAYED_BODIES = ("serious_dishonesty_listed", "listing_removed")


@dataclass
class IntakeService:
    handle: ServiceHandle
    state: IntakeState
    processed: faust.Table
    tick: object  # async () -> None: put a CheckDeadlines command from the clock on the log

    @property
    def grpc_port(self) -> int:
        return self.handle.grpc_port


def rules_from(settings: Settings) -> Rules:
    return Rules(
        bureaus=BureauRegistry.parse(settings.bureaus),
        uscc_allow=settings.uscc_allow_set,
        calendar=WorkingCalendar.parse(settings.holidays, settings.extra_working_days),
        accept_within_days=settings.fast_track_accept_days,
        decide_within_days=settings.fast_track_decide_days,
    )


async def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    rules: Rules | None = None,
    tick_interval_s: float | None = None,
) -> IntakeService:
    clock = clock or SystemClock()
    rules = rules or rules_from(settings)
    app = create_app(SERVICE, settings)
    submissions = envelope_topic(app, INTAKE_SUBMISSIONS, settings)
    cases_topic = envelope_topic(app, CASES, settings)
    credit_topic = envelope_topic(app, CREDIT, settings)
    sink = dead_letter_sink(app, settings, SERVICE)

    def table(name: str) -> faust.Table:
        # partitions=1: co-partitioned with the single-partition submissions topic.
        t = app.Table(name, partitions=1, default=None)
        # Keys are str (json); values are domain dataclasses and protobuf messages. Faust
        # derives serializers from types only, so this is set before the store exists.
        t.value_serializer = _STATE_CODEC
        return t

    state = IntakeState(**{f.name: table(f.name) for f in dataclasses.fields(IntakeState)})
    processed = table("processed")
    replies = PendingReplies()

    async def publish_fact(key: str, env: codec.Envelope, traceparent: str | None = None):
        return await cases_topic.send(
            key=key.encode(),
            value=codec.encode(env),
            headers=codec.headers(env, parent_traceparent=traceparent),
        )

    async def send_command(env: codec.Envelope, traceparent: str | None = None) -> None:
        ack = await submissions.send(
            key=env.subject_key.encode(),
            value=codec.encode(env),
            headers=codec.headers(env, parent_traceparent=traceparent),
        )
        await ack

    processor = IntakeProcessor(state, processed, rules, publish_fact, replies, fail_stop)

    async def decide_one(env: codec.Envelope, event) -> None:
        await processor.handle(env, codec.header(event.headers, codec.HEADER_TRACEPARENT))

    async def relay_listing(env: codec.Envelope, event) -> None:
        # Listings decide fast-track, so they join the single writer's order.
        if env.WhichOneof("body") in _RELAYED_BODIES:
            traceparent = codec.header(event.headers, codec.HEADER_TRACEPARENT)
            ack = await submissions.send(
                key=event.key,
                value=event.value,
                headers=codec.headers(env, parent_traceparent=traceparent),
            )
            await ack

    consume = partial(
        consume_envelopes, sink=sink, service=SERVICE, max_bytes=settings.max_message_bytes
    )

    @app.agent(submissions, name="intake-decider")
    async def decider(stream):
        await consume(stream, handle=decide_one)

    @app.agent(credit_topic, name="intake-listing-relay")
    async def relay_listings(stream):
        await consume(stream, handle=relay_listing)

    async def put_tick() -> None:
        await send_command(tick(clock.now()))

    @app.timer(interval=tick_interval_s or settings.deadline_check_interval_s, on_leader=False)
    async def clock_tick():
        await put_tick()

    identity = IdentityResolver(rules.bureaus, insecure_dev_identity=settings.insecure_dev_identity)
    servicer = CaseIntakeServicer(state, rules, identity, send_command, replies, clock)
    port = DEFAULT_GRPC_PORT if settings.grpc_port is None else settings.grpc_port
    server = await create_server(
        [(intake_pb2_grpc.add_CaseIntakeServicer_to_server, servicer, "ipcoord.v1.CaseIntake")],
        settings,
        port=port,
        service=SERVICE,
    )
    return IntakeService(ServiceHandle(app, server), state, processed, put_tick)


async def serve(settings: Settings) -> None:
    """`ipcoord serve intake`: run until SIGINT/SIGTERM, then drain and stop."""
    configure_logging(settings.log_level, settings.log_format)
    serve_metrics(settings.metrics_port)
    service = await build(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await service.handle.start()
    log.info("intake serving", extra={"grpc_port": service.grpc_port})
    await stop.wait()
    await service.handle.stop()
