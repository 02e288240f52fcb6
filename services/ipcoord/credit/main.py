"""Composition root of credit records: settings -> rules, Faust app, tables, agents, gRPC."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import faust

from ipcoord.credit.api import CreditRecordsServicer
from ipcoord.credit.domain.shared import Rules
from ipcoord.credit.processor import SERVICE, CreditProcessor
from ipcoord.credit.rules_file import DEFAULT_RULES_FILE, load_rules
from ipcoord.credit.state import DERIVED_INDEXES, CreditState
from ipcoord.credit.state_codecs import CODECS
from ipcoord.credit.stream import CreditTopics, publishing_releases, register_agents
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
from ipcoord.platform.personal_ids import PersonHasher
from ipcoord.platform.request_reply import ReplyInbox
from ipcoord.platform.runner import ServiceHandle, run_until_signalled
from ipcoord.platform.sending import command_sender, fact_publisher, reply_sender
from ipcoord.platform.settings import Settings
from ipcoord.platform.staged import Stage, staged_state
from ipcoord.platform.topics import (
    CASES,
    CREDIT,
    CREDIT_COMMANDS,
    CREDIT_REPLIES,
    DISCIPLINE_FEEDBACK,
    full_name,
)
from ipcoord.platform.writer import settle_after_rebalances
from ipcoord.topology import read_by
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import credit_pb2_grpc

log = logging.getLogger(__name__)

DEFAULT_GRPC_PORT = 50052
READ_CACHE_ENTRIES = 20_000
# Development only (no TLS): a fixed key, so hashes stay comparable across restarts.
_DEV_HASH_KEY = {"dev": b"ipcoord-development-only-key-32b"}

_VALUE_TYPES = {
    name: table_codec.value_type(f"ipcoord-credit-{name}", codec) for name, codec in CODECS.items()
}


@dataclass
class CreditService:
    handle: ServiceHandle
    state: CreditState
    # Put a CheckCreditDeadlines on every owned partition now (tests move the clock).
    tick: Callable[[datetime | None], Awaitable[list[str]]]
    processor: CreditProcessor

    @property
    def grpc_port(self) -> int:
        return self.handle.grpc_port


def rules_from(settings: Settings) -> Rules:
    rules = load_rules(
        settings.credit_rules or DEFAULT_RULES_FILE,
        settings.bureau_registry,
        WorkingCalendar(settings.holidays, settings.extra_working_days),
    )
    return dataclasses.replace(rules, uscc_allow=settings.uscc_allow_list)


def hasher_from(settings: Settings) -> PersonHasher:
    if settings.person_hash_keys is not None:
        return PersonHasher.from_file(settings.person_hash_keys)
    if settings.tls_cert_file is not None:
        raise ValueError(
            "IPCOORD_PERSON_HASH_KEYS is unset but TLS is configured: production hashes "
            "personal id numbers with its own keys (a JSON file, see docs/credit.md); the "
            "development key is for development only"
        )
    log.warning("IPCOORD_PERSON_HASH_KEYS is unset: hashing with the development key")
    return PersonHasher(_DEV_HASH_KEY, "dev")


async def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    rules: Rules | None = None,
    tick_interval_s: float | None = None,
) -> CreditService:
    clock = clock or SystemClock()
    rules = rules or rules_from(settings)
    hasher = hasher_from(settings)
    app = create_app(SERVICE, settings)

    def table(name: str) -> faust.Table:
        # Partitioned like the command topic (by USCC): one writer per entity.
        return app.Table(
            name, partitions=CREDIT_COMMANDS.partitions, default=None, value_type=_VALUE_TYPES[name]
        )

    stage = Stage()
    state = staged_state(
        CreditState,
        stage=stage,
        table=table,
        codecs=CODECS,
        derived=DERIVED_INDEXES,
        cache_entries=READ_CACHE_ENTRIES,
        in_memory=settings.store.startswith("memory"),
    )
    journal = Journal(settings.data_dir / SERVICE / "journal")
    topics = CreditTopics(
        commands=envelope_topic(app, CREDIT_COMMANDS, settings),
        replies=envelope_topic(app, CREDIT_REPLIES, settings),
        credit=envelope_topic(app, CREDIT, settings),
        cases=envelope_topic(app, CASES, settings),
        feedback=envelope_topic(app, DISCIPLINE_FEEDBACK, settings),
    )
    processor = CreditProcessor(
        state,
        stage,
        journal,
        rules,
        publishing_releases(fact_publisher(topics.credit), fact_publisher(topics.commands)),
        reply_sender(topics.replies),
        fail_stop=fail_stop,
    )
    tick_now = register_agents(
        app,
        topics,
        processor,
        dead_letter_sink(app, settings, SERVICE),
        settings,
        clock=clock,
        tick_every_s=tick_interval_s or settings.deadline_check_interval_s,
    )
    ownership = PartitionOwnership(
        full_name(CREDIT_COMMANDS, settings.topic_prefix), processor.tables_changed
    )
    ownership.connect(app)

    # After a crash, lookups of a partition wait for its redo: partitions with nothing to redo
    # are settled after each rebalance, the others redo with their first redelivered command.
    settle_after_rebalances(
        app, settings, [(processor, ownership, full_name(CREDIT_COMMANDS, settings.topic_prefix))]
    )

    def ready(partition: int) -> bool:
        # Owned with recovered tables, what a crash rolled back put back, indexes rebuilt.
        return (
            ownership.current(partition)
            and not processor.needs_redo_of(partition)
            and processor.answers_lookups()
        )

    identity = IdentityResolver(
        rules.bureaus,
        insecure_dev_identity=settings.insecure_dev_identity,
        replica_name=replica_name(SERVICE),
    )
    inbox = ReplyInbox(settings, CREDIT_REPLIES)
    routing = ReplicaRouting(
        settings,
        SERVICE,
        C.DESCRIPTOR.services_by_name["CreditRecords"],
        ownership,
        ready,
        identity,
        partitions=CREDIT_COMMANDS.partitions,
    )
    servicer = CreditRecordsServicer(
        state,
        rules,
        identity,
        hasher,
        command_sender(topics.commands),
        inbox,
        clock,
        routing.router,
        max_bytes=settings.max_message_bytes,
    )
    port = DEFAULT_GRPC_PORT if settings.grpc_port is None else settings.grpc_port
    server = await create_server(
        [
            (
                credit_pb2_grpc.add_CreditRecordsServicer_to_server,
                servicer,
                "ipcoord.v1.CreditRecords",
            )
        ],
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
    return CreditService(handle, state, tick_now, processor)


async def serve(settings: Settings) -> None:
    """`ipcoord serve credit`: run until SIGINT/SIGTERM, then drain and stop."""
    configure_logging(settings.log_level, settings.log_format)
    serve_metrics(settings.metrics_port)
    await check_readable(settings, SERVICE, read_by(SERVICE))
    service = await build(settings)
    await run_until_signalled(service.handle)
