"""The notifications service's two single writers: the platform's processor
(platform/processor.py) with the router's logic and with the recipients' writers' logic.

Both take commands only from the service's own topics: the router from
ipcoord.notifications.routing.v1 (one partition), each recipient's writer from
ipcoord.notifications.commands.v1 (keyed by recipient, like its tables and its facts on
ipcoord.notifications.v1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from google.protobuf.message import Message

from ipcoord.notifications.domain import inbox, router
from ipcoord.notifications.state import RecipientState, RouterState
from ipcoord.notifications.state_codecs import RECIPIENT_CODECS, ROUTER_CODECS
from ipcoord.platform import codec
from ipcoord.platform.errors import DomainError
from ipcoord.platform.processor import REBUILD_SLICE
from ipcoord.v1 import notifications_pb2 as N

SERVICE = "notifications"
ROUTE_KEY = "route"  # the router's commands: one partition, one key

ROUTER_COMMANDS = frozenset({"route_fact", "put_subscription", "delete_subscription"})
RECIPIENT_COMMANDS = frozenset(
    {"record", "acknowledge", "webhook_attempted", "subscription_changed"}
)


def recipient_of(command: Message) -> str:
    """Whose command it is (a recipient's writer's commands)."""
    if isinstance(command, N.SubscriptionChanged):
        return command.subscription.recipient
    return getattr(command, "recipient", "")


def command_in(env: codec.Envelope, accepted: frozenset[str], where: str) -> Message:
    body = codec.body_of(env)
    if not isinstance(body, N.NotificationCommand):
        raise codec.InvalidEnvelope(
            f"{env.event_type} does not belong on {where}", "UnexpectedEventType"
        )
    which = body.WhichOneof("command")
    if which not in accepted:
        raise codec.InvalidEnvelope(
            f"NotificationCommand {which or '(none set)'} does not belong on {where}",
            "UnexpectedEventType",
        )
    return getattr(body, which)


def _rejection(env: codec.Envelope, body: Message, error: DomainError) -> Message:
    return N.NotificationCommandRejected(
        subject=getattr(body, "recipient", "") or env.subject_key,
        command=type(body).__name__,
        reason=error.reason,
        code=error.code,
        actor=env.producer_bureau,
    )


class RouterLogic:
    service = SERVICE
    facts_topic = "notifications"
    codecs = ROUTER_CODECS

    def command_of(self, env: codec.Envelope, *, system: bool) -> Message:
        return command_in(env, ROUTER_COMMANDS, "the notifications router's topic")

    def decide(self, body: Message, env: codec.Envelope, state: RouterState) -> list[Message]:
        return router.decide(body, state)

    def evolve(self, state: RouterState, event: Message, env: codec.Envelope) -> None:
        router.evolve(state, event)

    def rejection(self, env: codec.Envelope, body: Message, error: DomainError) -> Message:
        return _rejection(env, body, error)

    def fact_key(self, event: Message, cause: codec.Envelope) -> str:
        if isinstance(event, N.SubscriptionChanged):
            return event.subscription.recipient
        return getattr(event, "subject", "") or cause.subject_key

    def answer(
        self, env: codec.Envelope, facts: list[codec.Envelope], state: RouterState
    ) -> Message | None:
        for fact in facts:
            body = codec.body_of(fact)
            if isinstance(body, N.SubscriptionChanged):
                if body.removed:
                    return N.DeleteSubscriptionResponse()
                return body.subscription
        return None

    def rebuild_indexes(self, state: RouterState, tables: Callable) -> Iterator[int]:
        return router.rebuild_indexes(state, tables, REBUILD_SLICE)


class RecipientLogic:
    service = SERVICE
    facts_topic = "notifications"
    codecs = RECIPIENT_CODECS

    def command_of(self, env: codec.Envelope, *, system: bool) -> Message:
        return command_in(env, RECIPIENT_COMMANDS, "the recipients' command topic")

    def decide(self, body: Message, env: codec.Envelope, state: RecipientState) -> list[Message]:
        return inbox.decide(body, state)

    def evolve(self, state: RecipientState, event: Message, env: codec.Envelope) -> None:
        inbox.evolve(state, event, codec.occurred_at(env))

    def rejection(self, env: codec.Envelope, body: Message, error: DomainError) -> Message:
        return _rejection(env, body, error)

    def fact_key(self, event: Message, cause: codec.Envelope) -> str:
        return recipient_of(event) or cause.subject_key

    def answer(
        self, env: codec.Envelope, facts: list[codec.Envelope], state: RecipientState
    ) -> Message | None:
        if codec.body_of(env).WhichOneof("command") != "acknowledge":
            return None
        marked = sum(
            len(body.notification_ids)
            for body in map(codec.body_of, facts)
            if isinstance(body, N.NotificationsAcknowledged)
        )
        return N.AcknowledgeResponse(acknowledged=marked)

    def rebuild_indexes(self, state: RecipientState, tables: Callable) -> Iterator[int]:
        return iter(())  # nothing derived
