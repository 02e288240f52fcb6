"""The topic registry: every topic declared once. Creation, Faust topics, docs and (later) the
Kubernetes KafkaTopic manifests are all derived from TOPICS."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Service(StrEnum):
    INTAKE = "intake"
    CREDIT = "credit"
    NOTIFICATIONS = "notifications"
    BUREAU_SYSTEMS = "bureau-systems"  # external producers: bureau systems, monitoring feeds
    DEPARTMENTS = "departments"  # implementing departments' systems


_DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    key: str  # what the Kafka key is
    value: str  # protobuf message of the value (body types are listed in the docs)
    producers: tuple[Service, ...]
    consumers: tuple[Service, ...]
    compacted: bool = False
    retention_ms: int = -1  # -1: keep forever (the shared log is the system of record)
    description: str = ""
    extra_config: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, str]:
        """Topic-level Kafka config for creation and for KafkaTopic manifests."""
        cfg = {
            "cleanup.policy": "compact" if self.compacted else "delete",
            "retention.ms": str(self.retention_ms),
        }
        cfg.update(self.extra_config)
        return cfg


INTAKE_SUBMISSIONS = TopicSpec(
    name="ipcoord.intake.submissions.v1",
    partitions=1,
    key="<submitting bureau>/<external ref> for reports; subject id for commands",
    value="ipcoord.v1.Envelope (ReportSubmitted | IntakeCommand)",
    producers=(Service.BUREAU_SYSTEMS, Service.INTAKE),
    consumers=(Service.INTAKE,),
    # One partition: intake's matcher decides filing in one total order, because source
    # tracing matches each report against every open case (docs/intake.md, "Two writers").
    retention_ms=30 * _DAY_MS,
    description="Reports and case commands handed in by bureau systems and monitoring feeds.",
)
INTAKE_CONTROL = TopicSpec(
    name="ipcoord.intake.control.v1",
    partitions=1,
    key="USCC for relayed listings; case id for relayed case facts",
    value="ipcoord.v1.Envelope (relayed credit listings | case facts of intake's case writers)",
    producers=(Service.INTAKE,),
    consumers=(Service.INTAKE,),
    # What only intake tells its matcher: the listings it relays from credit (they decide
    # fast-track at filing) and the case writers' facts that change a case's standing (its
    # status and handler: whether a report may still join it, the actions' progress). Kept off
    # the submissions topic, which every bureau system writes to; ACLs grant it to intake
    # alone. One partition, like the submissions topic: the matcher owns both.
    retention_ms=7 * _DAY_MS,
    description="Intake's own input to its matcher: relayed listings and case standings.",
)
INTAKE_REPLIES = TopicSpec(
    name="ipcoord.intake.replies.v1",
    partitions=3,
    key="replica id (the reply-to of the command)",
    value="ipcoord.v1.CommandReply",
    producers=(Service.INTAKE,),
    consumers=(Service.INTAKE,),
    # The writer's answers to gRPC commands, for the replica that took the call (platform/
    # request_reply.py). Read by every replica; useless once the caller has its answer.
    retention_ms=60 * 60 * 1000,
    description="Intake's answers to gRPC commands, per replica.",
)
INTAKE_CASEWORK = TopicSpec(
    name="ipcoord.intake.casework.v1",
    partitions=6,
    key="case id ('clock' for deadline ticks, sent to each partition)",
    value="ipcoord.v1.Envelope (IntakeCommand case commands and ticks | CaseWork)",
    producers=(Service.INTAKE,),
    consumers=(Service.INTAKE,),
    # Intake's case writers: one per case, partitioned like ipcoord.cases.v1. Written by intake
    # alone: its gRPC edge (the lifecycle commands, callers proven by certificate), its matcher
    # (the case facts it decided, lifecycle commands bureau systems sent on the submissions
    # topic, answers to submissions) and each replica's clock (a tick per owned partition).
    retention_ms=30 * _DAY_MS,
    description="Work for intake's case writers, per case.",
)
CASES = TopicSpec(
    name="ipcoord.cases.v1",
    partitions=6,
    key="case id (action id, USCC or '<bureau>/<ref>' for non-case facts)",
    value="ipcoord.v1.Envelope (case lifecycle, linking, special actions, fast-track)",
    producers=(Service.INTAKE,),
    consumers=(Service.INTAKE, Service.CREDIT, Service.NOTIFICATIONS),
    description="Every case fact, in order per case. The system of record for cases.",
)
CREDIT = TopicSpec(
    name="ipcoord.credit.v1",
    partitions=6,
    key="USCC",
    value="ipcoord.v1.Envelope (records, listings, removals, lifted measures)",
    producers=(Service.CREDIT,),
    consumers=(Service.INTAKE, Service.NOTIFICATIONS),
    description="Dishonesty records and serious-dishonesty listings per entity.",
)
CREDIT_COMMANDS = TopicSpec(
    name="ipcoord.credit.commands.v1",
    partitions=6,
    key="USCC (clock ticks: 'clock', sent to each partition)",
    value="ipcoord.v1.Envelope (CreditCommand)",
    producers=(Service.CREDIT,),
    consumers=(Service.CREDIT,),
    # Written only by credit records itself: its gRPC edge (callers proven by certificate),
    # its relays of intake's decisions and of departments' feedback, and its clock. Keyed and
    # partitioned like the credit tables: one writer per entity.
    retention_ms=30 * _DAY_MS,
    description="Commands to credit records' single writer per entity.",
)
CREDIT_REPLIES = TopicSpec(
    name="ipcoord.credit.replies.v1",
    partitions=3,
    key="replica id",
    value="ipcoord.v1.CommandReply",
    producers=(Service.CREDIT,),
    consumers=(Service.CREDIT,),
    retention_ms=60 * 60 * 1000,  # useless once the caller has its answer
    description="Credit records' answers to gRPC commands, per replica.",
)
DISCIPLINE_FEEDBACK = TopicSpec(
    name="ipcoord.discipline.feedback.v1",
    partitions=6,
    key="listing id",
    value="ipcoord.v1.Envelope (DisciplineFeedbackSubmitted)",
    producers=(Service.DEPARTMENTS, Service.CREDIT),
    consumers=(Service.CREDIT,),
    description="Implementing departments report what they did per measure.",
)
NOTIFICATIONS = TopicSpec(
    name="ipcoord.notifications.v1",
    partitions=6,
    key="recipient (bureau id or USCC)",
    value="ipcoord.v1.Envelope (NotificationRecorded, delivery outcomes, subscriptions)",
    producers=(Service.NOTIFICATIONS,),
    consumers=(),  # the record of what was sent; the service keeps its own state
    description="Every notification and its delivery, per recipient.",
)
NOTIFICATIONS_ROUTING = TopicSpec(
    name="ipcoord.notifications.routing.v1",
    partitions=1,
    key="'route'",
    value="ipcoord.v1.Envelope (NotificationCommand: route_fact, put/delete_subscription)",
    producers=(Service.NOTIFICATIONS,),
    consumers=(Service.NOTIFICATIONS,),
    # One partition: the router learns who takes part in what from facts keyed by case, action
    # and entity on six partitions each, and matches every fact against every subscription;
    # one writer holds all of it (docs/notifications.md). Written by the service only: its
    # relay of the facts and its gRPC edge.
    retention_ms=7 * _DAY_MS,
    description="The notifications router's commands: facts to route, subscription changes.",
)
NOTIFICATIONS_COMMANDS = TopicSpec(
    name="ipcoord.notifications.commands.v1",
    partitions=6,
    key="recipient (bureau id or USCC)",
    value="ipcoord.v1.Envelope (NotificationCommand: record, acknowledge, webhook_attempted)",
    producers=(Service.NOTIFICATIONS,),
    consumers=(Service.NOTIFICATIONS,),
    # Partitioned like ipcoord.notifications.v1 and the recipients' tables: one writer per
    # recipient numbers its notifications. Written by the service only.
    retention_ms=7 * _DAY_MS,
    description="Commands to the writer of each recipient's notifications.",
)
NOTIFICATIONS_REPLIES = TopicSpec(
    name="ipcoord.notifications.replies.v1",
    partitions=3,
    key="replica id",
    value="ipcoord.v1.CommandReply",
    producers=(Service.NOTIFICATIONS,),
    consumers=(Service.NOTIFICATIONS,),
    retention_ms=60 * 60 * 1000,  # useless once the caller has its answer
    description="The notifications service's answers to gRPC commands, per replica.",
)
DEADLETTER = TopicSpec(
    name="ipcoord.deadletter.v1",
    partitions=3,
    key="the original record's key",
    value="ipcoord.v1.DeadLetter",
    producers=(Service.INTAKE, Service.CREDIT, Service.NOTIFICATIONS),
    consumers=(),
    retention_ms=90 * _DAY_MS,
    description="Records no consumer could decode or validate, with the reason.",
)

TOPICS: tuple[TopicSpec, ...] = (
    INTAKE_SUBMISSIONS,
    INTAKE_CONTROL,
    INTAKE_REPLIES,
    INTAKE_CASEWORK,
    CASES,
    CREDIT,
    CREDIT_COMMANDS,
    CREDIT_REPLIES,
    DISCIPLINE_FEEDBACK,
    NOTIFICATIONS,
    NOTIFICATIONS_ROUTING,
    NOTIFICATIONS_COMMANDS,
    NOTIFICATIONS_REPLIES,
    DEADLETTER,
)


def by_name(name: str) -> TopicSpec:
    for spec in TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown topic {name!r}; known: {', '.join(t.name for t in TOPICS)}")


def full_name(spec: TopicSpec, prefix: str) -> str:
    """The name on the broker: the environment's prefix plus the registry name."""
    return f"{prefix}{spec.name}"
