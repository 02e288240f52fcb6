"""Notifications gRPC servicer: identify the caller, let it reach only its own notifications
(operators: anyone's), hand commands to the right writer (request-reply over Kafka, so any
replica takes any write), and serve lookups and streams here or on the replica that owns the
recipient (the lookup router). Thin by design: the writers decide, queries.py reads."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
from google.protobuf.message import Message

from ipcoord.notifications import queries
from ipcoord.notifications.domain.subscriptions import check_channels, filter_problems
from ipcoord.notifications.live import LiveStreams
from ipcoord.notifications.processor import ROUTE_KEY
from ipcoord.notifications.state import RecipientState, RouterState
from ipcoord.notifications.stream import command
from ipcoord.notifications.webhooks import Network, url_problem
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.errors import DomainError, InvalidInput, Violation
from ipcoord.platform.forwarding import LookupRouter
from ipcoord.platform.grpc_errors import abort_with
from ipcoord.platform.identity import IdentityResolver
from ipcoord.platform.ownership import partition_of
from ipcoord.platform.request_reply import ReplyInbox, answered_by_writer
from ipcoord.platform.topics import NOTIFICATIONS_COMMANDS
from ipcoord.platform.uscc import uscc_problem
from ipcoord.v1 import notifications_pb2 as N
from ipcoord.v1 import notifications_pb2_grpc

SendCommand = Callable[..., Awaitable[None]]  # platform.sending.command_sender
_SUBSCRIPTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SUBSCRIPTION_ID_RULE = "1 to 100 of A-Z a-z 0-9 . _ -, first alphanumeric"
WAKE_AT_LEAST_EVERY_S = 30.0  # a stream checks it still owns its recipient at least this often


class NotificationsServicer(notifications_pb2_grpc.NotificationsServicer):
    def __init__(
        self,
        *,
        recipients: RecipientState,
        router_state: RouterState,
        live: LiveStreams,
        identity: IdentityResolver,
        registry: BureauRegistry,
        operators: frozenset[str],
        send_record: SendCommand,
        send_route: SendCommand,
        inbox: ReplyInbox,
        lookups: LookupRouter,
        subscription_lookups: LookupRouter,
        ready: Callable[[int], bool],
        secret_of: Callable[[str, str], str],
        known_event_types: frozenset[str],
        webhook_allowed: tuple[Network, ...] = (),
        uscc_allow: frozenset[str] = frozenset(),
        decision_timeout_s: float = 15.0,
    ) -> None:
        self._recipients = recipients
        self._router_state = router_state
        self._live = live
        self._identity = identity
        self._registry = registry
        self._operators = operators
        self._send_record = send_record
        self._send_route = send_route
        self._inbox = inbox
        self._lookups = lookups
        self._subscription_lookups = subscription_lookups
        self._ready = ready
        self._secret_of = secret_of
        self._known_event_types = known_event_types
        self._webhook_allowed = webhook_allowed
        self._uscc_allow = uscc_allow
        self._timeout = decision_timeout_s

    # ---------------------------------------------------------------- streams and lookups

    async def Subscribe(self, request, context) -> AsyncIterator[N.Notification]:
        recipient = await self._recipient(context, request.recipient)
        partition = self._partition(recipient)
        local = lambda: self._follow(context, recipient, request, partition)  # noqa: E731
        async for notification in self._lookups.stream(
            context, "Subscribe", request, partition, local
        ):
            yield notification

    async def ListNotifications(self, request, context):
        recipient = await self._recipient(context, request.recipient)
        try:
            return await self._lookups.one(
                context,
                "ListNotifications",
                request,
                self._partition(recipient),
                lambda: queries.inbox_page(self._recipients, request, recipient),
            )
        except DomainError as error:
            await abort_with(context, error)

    async def ListSubscriptions(self, request, context):
        recipient = await self._recipient(context, request.recipient)
        return await self._subscription_lookups.one(
            context,
            "ListSubscriptions",
            request,
            0,
            lambda: queries.subscriptions_of(self._router_state, recipient),
        )

    # ---------------------------------------------------------------- commands

    async def Acknowledge(self, request, context):
        recipient = await self._recipient(context, request.recipient)
        body = N.AcknowledgeRequest(recipient=recipient, notification_ids=request.notification_ids)
        return await self._command(
            context, body, recipient, self._send_record, N.AcknowledgeResponse
        )

    async def PutSubscription(self, request, context):
        recipient = await self._recipient(context, request.recipient)
        subscription = N.Subscription()
        subscription.CopyFrom(request)
        subscription.recipient = recipient
        subscription.webhook_secret = ""
        subscription.subscription_id = request.subscription_id or f"S-{uuid.uuid4().hex}"
        if not _SUBSCRIPTION_ID.match(subscription.subscription_id):
            await abort_with(
                context,
                InvalidInput(
                    [
                        Violation(
                            "subscription_id", "1 to 100 of A-Z a-z 0-9 . _ -, first alphanumeric"
                        )
                    ]
                ),
            )
        await self._check_subscription(context, subscription)
        kept = await self._command(
            context, subscription, ROUTE_KEY, self._send_route, N.Subscription
        )
        if kept.webhook_url:
            kept.webhook_secret = self._secret_of(recipient, kept.subscription_id)
        return kept

    async def DeleteSubscription(self, request, context):
        recipient = await self._recipient(context, request.recipient)
        body = N.DeleteSubscriptionRequest(
            subscription_id=request.subscription_id[:200], recipient=recipient
        )
        return await self._command(
            context, body, ROUTE_KEY, self._send_route, N.DeleteSubscriptionResponse
        )

    # ---------------------------------------------------------------- plumbing

    async def _recipient(self, context, asked: str) -> str:
        """Whose notifications the call is about: the caller's own unless it names another,
        which only an operator may."""
        caller = await self._identity.caller_bureau(context)
        recipient = asked or caller
        if recipient != caller and caller not in self._operators:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{caller} may reach only its own notifications, not {recipient[:100]!r} "
                "(operators may reach any recipient's)",
            )
        if recipient not in self._registry and uscc_problem(recipient, self._uscc_allow):
            await abort_with(
                context,
                InvalidInput([Violation("recipient", "neither a known bureau nor a valid USCC")]),
            )
        return recipient

    def _partition(self, recipient: str) -> int:
        return partition_of(recipient, NOTIFICATIONS_COMMANDS.partitions)

    async def _check_subscription(self, context, subscription: N.Subscription) -> None:
        try:
            problems = filter_problems(subscription.filter, self._known_event_types)
            if problems:
                raise InvalidInput(problems)
            check_channels(subscription)
            if subscription.webhook_url:
                problem = await asyncio.to_thread(
                    url_problem, subscription.webhook_url, allowed=self._webhook_allowed
                )
                if problem:
                    raise InvalidInput([Violation("webhook_url", problem)])
        except DomainError as error:
            await abort_with(context, error)

    async def _command(self, context, body: Message, key: str, send, answer_type):
        bureau = await self._identity.caller_bureau(context)
        env = command(body, actor=bureau, key=key)
        return await answered_by_writer(context, self._inbox, send, env, answer_type, self._timeout)

    async def _follow(
        self, context, recipient: str, request: N.SubscribeRequest, partition: int
    ) -> AsyncIterator[N.Notification]:
        """The recipient's notifications after the request's cursor, then each new one, until
        the client goes or the recipient's partition moves to another replica (UNAVAILABLE:
        the client subscribes again with its last cursor and resumes with no gap and no
        duplicate)."""
        last = queries.last_sequence(self._recipients, recipient)
        cursor = last if request.only_new else request.after_cursor
        if cursor > last:
            await context.abort(
                grpc.StatusCode.OUT_OF_RANGE,
                f"after_cursor {cursor} is past {recipient}'s last notification ({last})",
            )
        with self._live.listening(recipient) as woken:
            while True:
                if not self._ready(partition):
                    await context.abort(
                        grpc.StatusCode.UNAVAILABLE,
                        f"{recipient}'s notifications moved to another replica; subscribe "
                        f"again with after_cursor={cursor}",
                    )
                woken.clear()
                last = queries.last_sequence(self._recipients, recipient)
                up_to = self._live.sendable_up_to(recipient, last)
                try:
                    for notification in queries.after(self._recipients, recipient, cursor, up_to):
                        yield notification
                        cursor = notification.record.sequence
                except queries.CursorTooOld as too_old:
                    await context.abort(grpc.StatusCode.OUT_OF_RANGE, str(too_old))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), WAKE_AT_LEAST_EVERY_S)
