"""Composition root of the intake service: settings -> rules, Faust app, tables, agents, gRPC."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import faust

from ipcoord.intake.api import CaseIndexServicer, CaseIntakeServicer, Lookups, Reading, Sending
from ipcoord.intake.domain import Rules
from ipcoord.intake.processor import SERVICE, CaseLogic, MatcherLogic
from ipcoord.intake.state import DERIVED_INDEXES, IntakeState
from ipcoord.intake.state_codecs import CASEWORK_CODECS, CASEWORK_TABLE_PREFIX, MATCHER_CODECS
from ipcoord.intake.stream import (
    IntakeTopics,
    case_writer_publisher,
    matcher_publisher,
    register_agents,
    sender,
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
from ipcoord.platform.processor import Processor
from ipcoord.platform.request_reply import ReplyInbox
from ipcoord.platform.runner import ServiceHandle, run_until_signalled
from ipcoord.platform.sending import command_sender, fact_publisher, reply_sender
from ipcoord.platform.settings import Settings
from ipcoord.platform.staged import Stage, staged_state
from ipcoord.platform.topics import (
    CASES,
    CREDIT,
    INTAKE_CASEWORK,
    INTAKE_CONTROL,
    INTAKE_REPLIES,
    INTAKE_SUBMISSIONS,
    full_name,
)
from ipcoord.platform.writer import settle_after_rebalances
from ipcoord.topology import read_by
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import intake_pb2_grpc

log = logging.getLogger(__name__)

# One serializer per table, each its own protobuf message (protos/ipcoord/v1/intake_state.proto).
MATCHER_TABLES, CASEWORK_TABLES = "", CASEWORK_TABLE_PREFIX
_VALUE_TYPES = {
    f"{prefix}{name}": table_codec.value_type(f"ipcoord-intake-{prefix}{name}", codec)
    for prefix, codecs in ((MATCHER_TABLES, MATCHER_CODECS), (CASEWORK_TABLES, CASEWORK_CODECS))
    for name, codec in codecs.items()
}

DEFAULT_GRPC_PORT = 50051
# Decoded values kept per table (platform/read_cache.py): the working set of a busy bureau day;
# a case with its history is a few kilobytes in memory.
READ_CACHE_ENTRIES = 20_000


@dataclass
class IntakeService:
    handle: ServiceHandle
    # The case writers' state (every case of the partitions this replica owns, whole).
    state: IntakeState
    # The matcher's (each case's summary, references, identities, actions, targets, listings).
    matcher_state: IntakeState
    # Put a CheckDeadlines on each case partition this replica owns now (tests move the
    # clock); returns their event ids.
    tick: Callable[[], Awaitable[list[str]]]
    matcher: Processor
    case_writer: Processor
    journals: tuple[Journal, Journal]

    def handled(self, command_event_ids: str | list[str]) -> bool:
        """Whether this replica has handled the commands (their outcome is in a journal)."""
        ids = [command_event_ids] if isinstance(command_event_ids, str) else command_event_ids
        return all(any(j.get(i) is not None for j in self.journals) for i in ids)

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
    in_memory = settings.store.startswith("memory")

    def state_of(prefix: str, partitions: int, codecs: dict, uncached: tuple[str, ...] = ()):
        # Each writer's tables are partitioned like its topic (replay.TABLE_PARTITIONS
        # creates the changelogs so). Keys are str (json); values are domain values, stored
        # as the table's message. The derived indexes are plain dicts, rebuilt from the cases
        # (domain/indexes.py). The domain writes through the stage; the processor journals
        # and then applies the writes.
        stage = Stage()

        def table(name: str) -> faust.Table:
            return app.Table(
                f"{prefix}{name}",
                partitions=partitions,
                default=None,
                value_type=_VALUE_TYPES[f"{prefix}{name}"],
            )

        state = staged_state(
            IntakeState,
            stage=stage,
            table=table,
            codecs=codecs,
            derived=DERIVED_INDEXES,
            cache_entries=READ_CACHE_ENTRIES,
            in_memory=in_memory,
            # The fields the other writer keeps.
            unused=tuple(
                f.name
                for f in dataclasses.fields(IntakeState)
                if f.name not in codecs and f.name not in DERIVED_INDEXES
            ),
            uncached=uncached,
        )
        return state, stage

    matcher_state, matcher_stage = state_of(
        MATCHER_TABLES, INTAKE_SUBMISSIONS.partitions, MATCHER_CODECS
    )
    # Every case partition keeps its copy of the identities (CaseWork.copy): read uncached.
    case_state, case_stage = state_of(
        CASEWORK_TABLES, INTAKE_CASEWORK.partitions, CASEWORK_CODECS, uncached=("identities",)
    )
    # On disk next to the tables, whatever the store: it is what a crash cannot take away.
    journals = (
        Journal(settings.data_dir / SERVICE / "journal"),
        Journal(settings.data_dir / SERVICE / "casework-journal"),
    )
    topics = IntakeTopics(
        submissions=envelope_topic(app, INTAKE_SUBMISSIONS, settings),
        control=envelope_topic(app, INTAKE_CONTROL, settings),
        casework=envelope_topic(app, INTAKE_CASEWORK, settings),
        replies=envelope_topic(app, INTAKE_REPLIES, settings),
        cases=envelope_topic(app, CASES, settings),
        credit=envelope_topic(app, CREDIT, settings),
    )
    publish_fact = fact_publisher(topics.cases)
    send_reply = reply_sender(topics.replies)
    matcher = Processor(
        matcher_state,
        matcher_stage,
        journals[0],
        MatcherLogic(rules),
        matcher_publisher(publish_fact, sender(topics.casework)),
        send_reply,
        fail_stop=fail_stop,
    )
    case_writer = Processor(
        case_state,
        case_stage,
        journals[1],
        CaseLogic(rules),
        case_writer_publisher(publish_fact, sender(topics.control)),
        send_reply,
        fail_stop=fail_stop,
    )
    matcher_ownership = PartitionOwnership(
        full_name(INTAKE_SUBMISSIONS, settings.topic_prefix), matcher.tables_changed
    )
    matcher_ownership.connect(app)
    casework_topic = full_name(INTAKE_CASEWORK, settings.topic_prefix)
    case_ownership = PartitionOwnership(casework_topic, case_writer.tables_changed)
    case_ownership.connect(app)
    tick_now = register_agents(
        app,
        topics,
        matcher,
        case_writer,
        dead_letter_sink(app, settings, SERVICE),
        settings,
        clock=clock,
        tick_every_s=tick_interval_s or settings.deadline_check_interval_s,
    )
    settle_after_rebalances(app, settings, [(case_writer, case_ownership, casework_topic)])

    identity = IdentityResolver(
        rules.bureaus,
        insecure_dev_identity=settings.insecure_dev_identity,
        replica_name=replica_name(SERVICE),
    )
    inbox = ReplyInbox(settings, INTAKE_REPLIES)

    def matcher_ready(partition: int) -> bool:
        # The matcher's tables are recovered and its derived indexes rebuilt from them.
        return matcher_ownership.current(partition) and matcher.answers_lookups()

    def case_ready(partition: int) -> bool:
        return (
            case_ownership.current(partition)
            and not case_writer.needs_redo_of(partition)
            and case_writer.answers_lookups()
        )

    routing = ReplicaRouting(
        settings,
        SERVICE,
        S.DESCRIPTOR.services_by_name["CaseIntake"],
        case_ownership,
        case_ready,
        identity,
        partitions=INTAKE_CASEWORK.partitions,
    )
    matcher_lookups = routing.router_of(
        matcher_ownership, matcher_ready, partitions=INTAKE_SUBMISSIONS.partitions
    )
    index_lookups = routing.router_of(
        matcher_ownership,
        matcher_ready,
        partitions=INTAKE_SUBMISSIONS.partitions,
        grpc_service=S.DESCRIPTOR.services_by_name["CaseIndex"],
    )
    index = CaseIndexServicer(matcher_state, index_lookups, identity)
    servicer = CaseIntakeServicer(
        Reading(case_state, matcher_state),
        identity,
        Sending(
            submissions=command_sender(topics.submissions), cases=command_sender(topics.casework)
        ),
        inbox,
        clock,
        Lookups(cases=routing.router, matcher=matcher_lookups, index=index),
    )
    port = DEFAULT_GRPC_PORT if settings.grpc_port is None else settings.grpc_port
    server = await create_server(
        [
            (intake_pb2_grpc.add_CaseIntakeServicer_to_server, servicer, "ipcoord.v1.CaseIntake"),
            (intake_pb2_grpc.add_CaseIndexServicer_to_server, index, "ipcoord.v1.CaseIndex"),
        ],
        settings,
        port=port,
        service=SERVICE,
    )
    routing.announce(app, server.port, matcher_ownership)

    def close_journals(clean: bool) -> None:
        for journal in journals:
            journal.close(clean=clean)

    handle = ServiceHandle(
        app,
        server,
        companions=(inbox, routing.peers),
        on_stopped=close_journals,
        readiness=routing.answerable,
    )
    return IntakeService(
        handle, case_state, matcher_state, tick_now, matcher, case_writer, journals
    )


async def serve(settings: Settings) -> None:
    """`ipcoord serve intake`: run until SIGINT/SIGTERM, then drain and stop."""
    configure_logging(settings.log_level, settings.log_format)
    serve_metrics(settings.metrics_port)
    await check_readable(settings, SERVICE, read_by(SERVICE))
    service = await build(settings)
    await run_until_signalled(service.handle)
