"""Composition root of notifications: settings -> Faust app, tables, both writers, agents, the
webhook deliverer, gRPC."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import faust
from google.protobuf.message import Message

from ipcoord.notifications.api import NotificationsServicer
from ipcoord.notifications.delivery import WebhookDeliverer
from ipcoord.notifications.domain.retry import RetrySchedule
from ipcoord.notifications.live import LiveStreams
from ipcoord.notifications.processor import SERVICE, RecipientLogic, RouterLogic
from ipcoord.notifications.state import (
    ROUTER_DERIVED,
    RecipientState,
    RouterState,
    notification_key,
    pending_key,
)
from ipcoord.notifications.state_codecs import RECIPIENT_CODECS, ROUTER_CODECS
from ipcoord.notifications.stream import (
    SYSTEM_ACTOR,
    NotificationTopics,
    command,
    publishing_and_telling,
    publishing_routes,
    register_agents,
)
from ipcoord.notifications.webhooks import derived_secret
from ipcoord.platform import table_codec
from ipcoord.platform.deadletter import DeadLetterSink, dead_letter
from ipcoord.platform.failstop import fail_stop
from ipcoord.platform.faust_app import create_app, dead_letter_sink, envelope_topic
from ipcoord.platform.forwarding import ReplicaRouting
from ipcoord.platform.grpc_server import create_server
from ipcoord.platform.identity import IdentityResolver, replica_name
from ipcoord.platform.ids import derived_event_id
from ipcoord.platform.journal import Journal
from ipcoord.platform.kafka_access import check_readable
from ipcoord.platform.logs import configure_logging
from ipcoord.platform.metrics import serve_metrics
from ipcoord.platform.ownership import PartitionOwnership, partition_of
from ipcoord.platform.processor import Processor
from ipcoord.platform.request_reply import ReplyInbox
from ipcoord.platform.runner import ServiceHandle, run_until_signalled
from ipcoord.platform.sending import command_sender, fact_publisher, reply_sender
from ipcoord.platform.settings import Settings
from ipcoord.platform.staged import Stage, staged_state
from ipcoord.platform.topics import (
    CASES,
    CREDIT,
    NOTIFICATIONS,
    NOTIFICATIONS_COMMANDS,
    NOTIFICATIONS_REPLIES,
    NOTIFICATIONS_ROUTING,
    full_name,
)
from ipcoord.platform.writer import settle_after_rebalances
from ipcoord.topology import read_by
from ipcoord.v1 import envelope_pb2, notifications_pb2_grpc
from ipcoord.v1 import notifications_pb2 as N
from ipcoord.v1 import notifications_state_pb2 as R

log = logging.getLogger(__name__)

DEFAULT_GRPC_PORT = 50053
READ_CACHE_ENTRIES = 20_000
# Development only (no TLS): a fixed key, so webhook secrets stay the same across restarts.
_DEV_WEBHOOK_KEY = b"ipcoord-development-only-webhook-key"
_MIN_KEY_BYTES = 32

_VALUE_TYPES = {
    name: table_codec.value_type(f"ipcoord-notifications-{name}", codec_)
    for name, codec_ in {**ROUTER_CODECS, **RECIPIENT_CODECS}.items()
}


@dataclass
class NotificationsService:
    handle: ServiceHandle
    recipients: RecipientState
    router_state: RouterState
    router: Processor
    writer: Processor
    deliverer: WebhookDeliverer
    live: LiveStreams

    @property
    def grpc_port(self) -> int:
        return self.handle.grpc_port


def webhook_key_from(settings: Settings) -> bytes:
    if settings.webhook_key_file is not None:
        key = settings.webhook_key_file.read_bytes().strip()
        if len(key) < _MIN_KEY_BYTES:
            raise ValueError(
                f"IPCOORD_WEBHOOK_KEY_FILE holds {len(key)} bytes; at least {_MIN_KEY_BYTES}"
            )
        return key
    if settings.tls_cert_file is not None:
        raise ValueError(
            "IPCOORD_WEBHOOK_KEY_FILE is unset but TLS is configured: production derives "
            "webhook secrets from its own key (a file of at least 32 random bytes)"
        )
    log.warning("IPCOORD_WEBHOOK_KEY_FILE is unset: webhook secrets use the development key")
    return _DEV_WEBHOOK_KEY


def routed_event_types() -> frozenset[str]:
    """The event types a subscription may name: those of ipcoord.cases.v1 and
    ipcoord.credit.v1 (every Envelope body declared by intake's and credit's protos)."""
    return frozenset(
        f.message_type.name
        for f in envelope_pb2.Envelope.DESCRIPTOR.oneofs_by_name["body"].fields
        if f.message_type.file.name in ("ipcoord/v1/intake.proto", "ipcoord/v1/credit.proto")
    )


async def build(settings: Settings, *, retry: RetrySchedule | None = None) -> NotificationsService:
    app = create_app(SERVICE, settings)
    in_memory = settings.store.startswith("memory")

    def state_of(state_type, partitions: int, codecs: dict, derived: tuple[str, ...]):
        stage = Stage()

        def table(name: str) -> faust.Table:
            return app.Table(
                name, partitions=partitions, default=None, value_type=_VALUE_TYPES[name]
            )

        state = staged_state(
            state_type,
            stage=stage,
            table=table,
            codecs=codecs,
            derived=derived,
            cache_entries=READ_CACHE_ENTRIES,
            in_memory=in_memory,
        )
        return state, stage

    # The router's tables are partitioned like its topic (one partition), the recipients'
    # like theirs (by recipient).
    router_state, router_stage = state_of(
        RouterState, NOTIFICATIONS_ROUTING.partitions, ROUTER_CODECS, ROUTER_DERIVED
    )
    recipients, recipients_stage = state_of(
        RecipientState, NOTIFICATIONS_COMMANDS.partitions, RECIPIENT_CODECS, ()
    )
    topics = NotificationTopics(
        routing=envelope_topic(app, NOTIFICATIONS_ROUTING, settings),
        commands=envelope_topic(app, NOTIFICATIONS_COMMANDS, settings),
        replies=envelope_topic(app, NOTIFICATIONS_REPLIES, settings),
        notifications=envelope_topic(app, NOTIFICATIONS, settings),
        cases=envelope_topic(app, CASES, settings),
        credit=envelope_topic(app, CREDIT, settings),
    )
    send_reply = reply_sender(topics.replies)
    publish_fact = fact_publisher(topics.notifications)
    send_record = command_sender(topics.commands)
    live = LiveStreams()
    sink = dead_letter_sink(app, settings, SERVICE)
    recipients_ownership = PartitionOwnership(
        full_name(NOTIFICATIONS_COMMANDS, settings.topic_prefix),
        lambda: recipients_changed(),  # defined below, with the writer
    )
    key = webhook_key_from(settings)

    def owns(recipient: str) -> bool:
        return recipients_ownership.current(
            partition_of(recipient, NOTIFICATIONS_COMMANDS.partitions)
        )

    def notification_of(recipient: str, sequence: int) -> N.Notification | None:
        return recipients.notifications.get(notification_key(recipient, sequence))

    def still_pending(recipient: str, sequence: int, subscription_id: str) -> bool:
        return pending_key(recipient, sequence, subscription_id) in recipients.pending

    async def report(outcome: N.WebhookAttempted) -> None:
        # One id per outcome: reported twice (a takeover), it is recorded once.
        event_id = derived_event_id(f"{outcome.notification_id}/{outcome.subscription_id}", 0)
        await send_record(
            command(outcome, actor=SYSTEM_ACTOR, key=outcome.recipient, event_id=event_id)
        )

    async def failed(outcome: N.WebhookAttempted, notification: N.Notification | None) -> None:
        await _dead_letter_failure(sink, settings, outcome, notification)

    deliverer = WebhookDeliverer(
        secret_of=lambda recipient, sid: derived_secret(key, recipient, sid),
        notification_of=notification_of,
        pending=lambda: list(recipients.pending.values()),
        owns=owns,
        still_pending=still_pending,
        report=report,
        failed=failed,
        schedule=retry or RetrySchedule(),
        allowed=settings.webhook_allowed_networks,
    )

    def publishing(body: Message) -> None:
        if isinstance(body, N.NotificationRecorded):
            live.publishing(body.recipient, body.sequence)

    def told(body: Message) -> None:
        if isinstance(body, N.NotificationRecorded):
            live.told(body.recipient, body.sequence)
            for target in body.webhooks:
                deliverer.offer(_pending_of(body, target))

    journals = (
        Journal(settings.data_dir / SERVICE / "router-journal"),
        Journal(settings.data_dir / SERVICE / "recipients-journal"),
    )
    router = Processor(
        router_state,
        router_stage,
        journals[0],
        RouterLogic(),
        publishing_routes(publish_fact, fact_publisher(topics.commands)),
        send_reply,
        fail_stop=fail_stop,
    )
    writer = Processor(
        recipients,
        recipients_stage,
        journals[1],
        RecipientLogic(),
        publishing_and_telling(publish_fact, publishing, told),
        send_reply,
        fail_stop=fail_stop,
    )
    register_agents(app, topics, router, writer, sink, settings)

    def recipients_changed() -> None:
        writer.tables_changed()
        live.wake_all()  # streams of recipients that moved end; the others look again

    recipients_ownership.connect(app)
    routing_ownership = PartitionOwnership(
        full_name(NOTIFICATIONS_ROUTING, settings.topic_prefix), router.tables_changed
    )
    routing_ownership.connect(app)

    def resume_deliveries() -> None:
        resumed = deliverer.resume_pending()
        if resumed:
            log.info("pending webhooks resumed", extra={"count": resumed})

    settle_after_rebalances(
        app,
        settings,
        [
            (router, routing_ownership, full_name(NOTIFICATIONS_ROUTING, settings.topic_prefix)),
            (
                writer,
                recipients_ownership,
                full_name(NOTIFICATIONS_COMMANDS, settings.topic_prefix),
            ),
        ],
        then=resume_deliveries,
    )

    def ready_with(ownership: PartitionOwnership, processor: Processor) -> Callable[[int], bool]:
        def ready(partition: int) -> bool:
            return (
                ownership.current(partition)
                and not processor.needs_redo_of(partition)
                and processor.answers_lookups()
            )

        return ready

    identity = IdentityResolver(
        settings.bureau_registry,
        insecure_dev_identity=settings.insecure_dev_identity,
        replica_name=replica_name(SERVICE),
    )
    inbox = ReplyInbox(settings, NOTIFICATIONS_REPLIES)
    recipients_ready = ready_with(recipients_ownership, writer)
    routing = ReplicaRouting(
        settings,
        SERVICE,
        N.DESCRIPTOR.services_by_name["Notifications"],
        recipients_ownership,
        recipients_ready,
        identity,
        partitions=NOTIFICATIONS_COMMANDS.partitions,
    )
    servicer = NotificationsServicer(
        recipients=recipients,
        router_state=router_state,
        live=live,
        identity=identity,
        registry=settings.bureau_registry,
        operators=settings.operators,
        send_record=send_record,
        send_route=command_sender(topics.routing),
        inbox=inbox,
        lookups=routing.router,
        subscription_lookups=routing.router_of(
            routing_ownership,
            ready_with(routing_ownership, router),
            partitions=NOTIFICATIONS_ROUTING.partitions,
        ),
        ready=recipients_ready,
        secret_of=lambda recipient, sid: derived_secret(key, recipient, sid),
        known_event_types=routed_event_types(),
        webhook_allowed=settings.webhook_allowed_networks,
        uscc_allow=settings.uscc_allow_list,
    )
    port = DEFAULT_GRPC_PORT if settings.grpc_port is None else settings.grpc_port
    server = await create_server(
        [
            (
                notifications_pb2_grpc.add_NotificationsServicer_to_server,
                servicer,
                "ipcoord.v1.Notifications",
            )
        ],
        settings,
        port=port,
        service=SERVICE,
    )
    routing.announce(app, server.port, routing_ownership)

    def close_journals(clean: bool) -> None:
        for journal in journals:
            journal.close(clean=clean)

    handle = ServiceHandle(
        app,
        server,
        companions=(inbox, routing.peers, deliverer),
        on_stopped=close_journals,
        readiness=routing.answerable,
    )
    return NotificationsService(handle, recipients, router_state, router, writer, deliverer, live)


def _pending_of(record: N.NotificationRecorded, target: N.WebhookTarget) -> R.PendingWebhook:
    return R.PendingWebhook(
        notification_id=record.notification_id,
        recipient=record.recipient,
        sequence=record.sequence,
        target=target,
    )


async def _dead_letter_failure(
    sink: DeadLetterSink,
    settings: Settings,
    outcome: N.WebhookAttempted,
    notification: N.Notification | None,
) -> None:
    """A webhook that failed for good, on the dead-letter topic for operators (the recipient
    sees it as NotificationFailed and in its inbox)."""
    await sink.publish(
        dead_letter(
            value=notification.SerializeToString() if notification is not None else b"",
            key=outcome.recipient.encode(),
            topic=full_name(NOTIFICATIONS, settings.topic_prefix),
            partition=-1,
            offset=-1,
            reason=(
                f"webhook {outcome.subscription_id} of {outcome.recipient}: notification "
                f"{outcome.notification_id} not delivered after {outcome.attempts} attempts: "
                f"{outcome.last_error}"
            ),
            error_class="WebhookDeliveryFailed",
            rejected_by=SERVICE,
        )
    )


async def serve(settings: Settings) -> None:
    """`ipcoord serve notifications`: run until SIGINT/SIGTERM, then drain and stop."""
    configure_logging(settings.log_level, settings.log_format)
    serve_metrics(settings.metrics_port)
    await check_readable(settings, SERVICE, read_by(SERVICE))
    service = await build(settings)
    await run_until_signalled(service.handle)
