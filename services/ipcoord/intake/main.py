"""Composition root of the intake service: settings -> rules, Faust app, tables, agents, gRPC."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import faust

from ipcoord.intake.api import CaseIntakeServicer
from ipcoord.intake.domain import Rules
from ipcoord.intake.keys import WRITER_PARTITION
from ipcoord.intake.processor import SERVICE, IntakeProcessor
from ipcoord.intake.state import DERIVED_INDEXES, IntakeState
from ipcoord.intake.state_codecs import CODECS
from ipcoord.intake.stream import (
    IntakeTopics,
    register_agents,
)
from ipcoord.platform import table_codec
from ipcoord.platform.calendar import Clock, SystemClock, WorkingCalendar
from ipcoord.platform.failstop import fail_stop
from ipcoord.platform.faust_app import create_app, dead_letter_sink, envelope_topic
from ipcoord.platform.forwarding import ReplicaRouting
from ipcoord.platform.grpc_server import create_server
from ipcoord.platform.identity import IdentityResolver, replica_name
from ipcoord.platform.journal import Journal
from ipcoord.platform.kafka_access import check_readable
from ipcoord.platform.logs import configure_logging
from ipcoord.platform.metrics import serve_metrics
from ipcoord.platform.ownership import PartitionOwnership
from ipcoord.platform.request_reply import ReplyInbox
from ipcoord.platform.runner import ServiceHandle, run_until_signalled
from ipcoord.platform.sending import command_sender, fact_publisher, reply_sender
from ipcoord.platform.settings import Settings
from ipcoord.platform.staged import Stage, staged_state
from ipcoord.platform.topics import (
    CASES,
    CREDIT,
    INTAKE_CONTROL,
    INTAKE_REPLIES,
    INTAKE_SUBMISSIONS,
    full_name,
)
from ipcoord.topology import read_by
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import intake_pb2_grpc

log = logging.getLogger(__name__)

# One serializer per table, each its own protobuf message (protos/ipcoord/v1/intake_state.proto).
_VALUE_TYPES = {
    name: table_codec.value_type(f"ipcoord-intake-{name}", codec) for name, codec in CODECS.items()
}

DEFAULT_GRPC_PORT = 50051
# Decoded values kept per table (platform/read_cache.py): the working set of a busy bureau day;
# a case with its history is a few kilobytes in memory.
READ_CACHE_ENTRIES = 20_000


@dataclass
class IntakeService:
    handle: ServiceHandle
    state: IntakeState
    # Put a CheckDeadlines command from the clock on the log now (tests move the clock);
    # returns its event id.
    tick: Callable[[], Awaitable[str]]
    journal: Journal
    processor: IntakeProcessor

    def handled(self, command_event_id: str) -> bool:
        """Whether this replica has handled the command (its outcome is in the journal)."""
        return self.journal.get(command_event_id) is not None

    @property
    def grpc_port(self) -> int:
        return self.handle.grpc_port


def rules_from(settings: Settings) -> Rules:
    return Rules(
        bureaus=settings.bureau_registry,
        uscc_allow=settings.uscc_allow_list,
        # China's statutory calendar, with the configured days as overrides.
        calendar=WorkingCalendar(settings.holidays, settings.extra_working_days),
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

    def table(name: str) -> faust.Table:
        # Co-partitioned with the single-partition submissions topic (replay.TABLE_PARTITIONS
        # creates the changelogs so). Keys are str (json); values are domain values, stored as
        # the table's message.
        return app.Table(
            name,
            partitions=INTAKE_SUBMISSIONS.partitions,
            default=None,
            value_type=_VALUE_TYPES[name],
        )

    # The domain writes through the stage; the processor journals and then applies the writes.
    # The derived indexes are plain dicts, rebuilt from the cases (domain/indexes.py).
    stage = Stage()
    state = staged_state(
        IntakeState,
        stage=stage,
        table=table,
        codecs=CODECS,
        derived=DERIVED_INDEXES,
        cache_entries=READ_CACHE_ENTRIES,
        in_memory=settings.store.startswith("memory"),
    )
    # On disk next to the tables, whatever the store: it is what a crash cannot take away.
    journal = Journal(settings.data_dir / SERVICE / "journal")
    topics = IntakeTopics(
        submissions=envelope_topic(app, INTAKE_SUBMISSIONS, settings),
        control=envelope_topic(app, INTAKE_CONTROL, settings),
        replies=envelope_topic(app, INTAKE_REPLIES, settings),
        cases=envelope_topic(app, CASES, settings),
        credit=envelope_topic(app, CREDIT, settings),
    )
    processor = IntakeProcessor(
        state,
        stage,
        journal,
        rules,
        fact_publisher(topics.cases),
        reply_sender(topics.replies),
        fail_stop=fail_stop,
    )
    ownership = PartitionOwnership(
        full_name(INTAKE_SUBMISSIONS, settings.topic_prefix), processor.tables_changed
    )
    ownership.connect(app)
    tick_now = register_agents(
        app,
        topics,
        processor,
        dead_letter_sink(app, settings, SERVICE),
        settings,
        clock=clock,
        tick_every_s=tick_interval_s or settings.deadline_check_interval_s,
        writes_here=lambda: WRITER_PARTITION in ownership.owned,
    )

    identity = IdentityResolver(
        rules.bureaus,
        insecure_dev_identity=settings.insecure_dev_identity,
        replica_name=replica_name(SERVICE),
    )
    inbox = ReplyInbox(settings, INTAKE_REPLIES)

    def ready(partition: int) -> bool:
        # Only the replica that owns the single writer's partition has intake's tables, and
        # only once they are recovered and the derived indexes rebuilt from them.
        return ownership.current(partition) and processor.answers_lookups()

    routing = ReplicaRouting(
        settings,
        SERVICE,
        S.DESCRIPTOR.services_by_name["CaseIntake"],
        ownership,
        ready,
        identity,
        partitions=INTAKE_SUBMISSIONS.partitions,
    )
    servicer = CaseIntakeServicer(
        state, identity, command_sender(topics.submissions), inbox, clock, routing.router
    )
    port = DEFAULT_GRPC_PORT if settings.grpc_port is None else settings.grpc_port
    server = await create_server(
        [(intake_pb2_grpc.add_CaseIntakeServicer_to_server, servicer, "ipcoord.v1.CaseIntake")],
        settings,
        port=port,
        service=SERVICE,
    )
    routing.announce(app, server.port)
    handle = ServiceHandle(
        app,
        server,
        companions=(inbox, routing.peers),
        on_stopped=journal.close,
        readiness=routing.answerable,
    )
    return IntakeService(handle, state, tick_now, journal, processor)


async def serve(settings: Settings) -> None:
    """`ipcoord serve intake`: run until SIGINT/SIGTERM, then drain and stop."""
    configure_logging(settings.log_level, settings.log_format)
    serve_metrics(settings.metrics_port)
    await check_readable(settings, SERVICE, read_by(SERVICE))
    service = await build(settings)
    await run_until_signalled(service.handle)
