"""Webhook delivery: each pending webhook of a recipient this replica owns is POSTed, signed,
until its endpoint answers 2xx or its attempts run out; the outcome goes to the recipient's
writer as a command (``WebhookAttempted``), which records NotificationDelivered or
NotificationFailed (a failure also on the dead-letter topic).

- One queue per endpoint (scheme, host, port), bounded: a slow or dead endpoint fills its own
  queue and delays nobody else's. What does not fit stays pending in the table and is read
  again when the queue has room.
- At least once: a pending webhook is tried again after a crash or on the replica that takes
  the recipient over (its pending table says what is left); receivers de-duplicate on
  ``webhook-id``, the notification id.
- The connection goes only to addresses checked at that moment (``CheckedResolver``): a name
  re-pointed at the service's own network after the subscription was registered is refused."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from google.protobuf.json_format import MessageToDict

from ipcoord.notifications.domain.retry import RetrySchedule
from ipcoord.notifications.state import pending_key
from ipcoord.notifications.webhooks import (
    Network,
    addresses_problem,
    is_address,
    signed_headers,
)
from ipcoord.v1 import notifications_pb2 as N
from ipcoord.v1 import notifications_state_pb2 as R

log = logging.getLogger(__name__)

ENDPOINT_QUEUE = 1_000
ENDPOINT_CONCURRENCY = 4  # attempts under way to one endpoint at once
ATTEMPT_TIMEOUT_S = 10.0
EVENT_TYPE = "ipcoord.notification"


class CheckedResolver(AbstractResolver):
    """Resolves a webhook's host and refuses the connection when any address is inside the
    service's own network (unless allowed): the check and the connection use one answer."""

    def __init__(self, allowed: Iterable[Network]) -> None:
        self._allowed = list(allowed)

    async def resolve(self, host: str, port: int = 0, family=socket.AF_INET):
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, family=socket.AF_UNSPEC
        )
        addresses = sorted({info[4][0] for info in infos})
        # The network rule; plain http's stricter one is checked before the POST (_post).
        problem = addresses_problem(host, addresses, "https", self._allowed)
        if problem:
            raise OSError(problem)
        return [
            ResolveResult(
                hostname=host, host=info[4][0], port=port, family=info[0], proto=0, flags=0
            )
            for info in infos
        ]

    async def close(self) -> None:
        pass


@dataclass
class _Endpoint:
    queue: asyncio.Queue
    task: asyncio.Task | None = None
    overflowed: bool = False
    attempts: set[asyncio.Task] = field(default_factory=set)


@dataclass
class Outcome:
    delivered: bool
    attempts: int
    last_error: str = ""


@dataclass
class _Tracked:
    item: R.PendingWebhook
    attempts: int = 0
    last_error: str = ""
    retry: asyncio.TimerHandle | None = field(default=None, repr=False)


class WebhookDeliverer:
    def __init__(
        self,
        *,
        secret_of: Callable[[str, str], str],  # (recipient, subscription id) -> secret
        notification_of: Callable[[str, int], N.Notification | None],
        pending: Callable[[], Iterable[R.PendingWebhook]],
        owns: Callable[[str], bool],
        # (recipient, sequence, subscription id): still to deliver (not ended meanwhile: its
        # subscription deleted, its notification out of the inbox, its outcome recorded)
        still_pending: Callable[[str, int, str], bool],
        report: Callable[[N.WebhookAttempted], Awaitable[None]],
        failed: Callable[[N.WebhookAttempted, N.Notification | None], Awaitable[None]],
        schedule: RetrySchedule,
        allowed: Iterable[Network] = (),
        queue_size: int = ENDPOINT_QUEUE,
        timeout_s: float = ATTEMPT_TIMEOUT_S,
    ) -> None:
        self._secret_of = secret_of
        self._notification_of = notification_of
        self._pending = pending
        self._owns = owns
        self._still_pending = still_pending
        self._report = report
        self._failed = failed
        self._schedule = schedule
        self._allowed = list(allowed)
        self._queue_size = queue_size
        self._timeout = timeout_s
        self._endpoints: dict[str, _Endpoint] = {}
        self._tracked: dict[str, _Tracked] = {}
        self._session: aiohttp.ClientSession | None = None
        self._stopping = False
        self.delivered = 0  # since start (benchmarks and probes read it)

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        resolver = CheckedResolver(self._allowed)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=resolver, limit=200, limit_per_host=8),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
        )

    async def stop(self) -> None:
        self._stopping = True
        tasks = [e.task for e in self._endpoints.values() if e.task is not None]
        tasks += [t for e in self._endpoints.values() for t in e.attempts]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for tracked in self._tracked.values():
            if tracked.retry is not None:
                tracked.retry.cancel()
        if self._session is not None:
            await self._session.close()

    # ---------------------------------------------------------------- what to deliver

    def offer(self, item: R.PendingWebhook) -> None:
        """A pending webhook to deliver (recorded just now, or found pending)."""
        key = pending_key(item.recipient, item.sequence, item.target.subscription_id)
        if self._stopping or key in self._tracked:
            return
        self._tracked[key] = _Tracked(item)
        self._enqueue(key)

    def resume_pending(self) -> int:
        """After an assignment: every webhook still pending for the recipients this replica
        owns (a restart, a takeover). Returns how many were offered."""
        count = 0
        for item in self._pending():
            if self._owns(item.recipient):
                self.offer(item)
                count += 1
        return count

    @property
    def in_flight(self) -> int:
        return len(self._tracked)

    def _enqueue(self, key: str) -> None:
        tracked = self._tracked.get(key)
        if tracked is None or self._stopping:
            return
        url = tracked.item.target.url
        parts = urlsplit(url)
        name = f"{parts.scheme}://{parts.netloc}"
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            endpoint = self._endpoints[name] = _Endpoint(asyncio.Queue(self._queue_size))
            endpoint.task = asyncio.create_task(self._work(name, endpoint), name=f"webhook {name}")
        try:
            endpoint.queue.put_nowait(key)
        except asyncio.QueueFull:
            # Still pending in the table: read again once this endpoint's queue has room.
            del self._tracked[key]
            endpoint.overflowed = True

    # ---------------------------------------------------------------- delivering

    async def _work(self, name: str, endpoint: _Endpoint) -> None:
        """The endpoint's queue, ENDPOINT_CONCURRENCY attempts at a time."""
        room = asyncio.Semaphore(ENDPOINT_CONCURRENCY)
        while True:
            if endpoint.queue.empty() and endpoint.overflowed:
                endpoint.overflowed = False
                for item in self._pending():
                    target = urlsplit(item.target.url)
                    if f"{target.scheme}://{target.netloc}" == name and self._owns(item.recipient):
                        self.offer(item)
            key = await endpoint.queue.get()
            await room.acquire()
            attempt = asyncio.create_task(self._attempt_safely(key))
            endpoint.attempts.add(attempt)
            attempt.add_done_callback(endpoint.attempts.discard)
            attempt.add_done_callback(lambda _: room.release())

    async def _attempt_safely(self, key: str) -> None:
        try:
            await self._attempt(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug or the broker: the webhook stays pending and is tried on the next
            # assignment or restart; this endpoint's queue goes on.
            log.exception("webhook attempt failed", extra={"pending": key})
            self._tracked.pop(key, None)

    async def _attempt(self, key: str) -> None:
        tracked = self._tracked.get(key)
        if tracked is None:
            return
        item = tracked.item
        if not self._owns(item.recipient):
            del self._tracked[key]  # another replica owns the recipient now: it delivers
            return
        notification = self._notification_of(item.recipient, item.sequence)
        pending = self._still_pending(item.recipient, item.sequence, item.target.subscription_id)
        if notification is None or not pending:
            del self._tracked[key]  # its end is recorded already
            return
        tracked.attempts += 1
        error = await self._post(item, notification)
        if error is None:
            await self._end(key, tracked, notification, delivered=True)
            return
        tracked.last_error = error
        delay = self._schedule.next_delay(tracked.attempts)
        if delay is None:
            await self._end(key, tracked, notification, delivered=False)
            return
        log.info(
            "webhook attempt failed; trying again",
            extra={"pending": key, "attempts": tracked.attempts, "error": error, "delay": delay},
        )
        tracked.retry = asyncio.get_running_loop().call_later(delay, self._enqueue, key)

    async def _post(self, item: R.PendingWebhook, notification: N.Notification) -> str | None:
        """None when the endpoint took it; otherwise why not."""
        assert self._session is not None
        body = json.dumps(
            {
                "type": EVENT_TYPE,
                "timestamp": datetime.now(UTC).isoformat(),
                "data": MessageToDict(notification),
            },
            separators=(",", ":"),
        ).encode()
        refused = await self._refused_before_connecting(item.target.url)
        if refused:
            return refused
        secret = self._secret_of(item.recipient, item.target.subscription_id)
        headers = signed_headers(secret, item.notification_id, datetime.now(UTC), body)
        try:
            async with self._session.post(
                item.target.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status} from {item.target.url[:200]}"
        except (aiohttp.ClientError, OSError, TimeoutError) as failure:
            return f"{type(failure).__name__}: {str(failure)[:300]}"

    async def _refused_before_connecting(self, url: str) -> str | None:
        """What the connection's resolver cannot check: an IP address in the URL (aiohttp
        connects to it without resolving), and plain http, which only an allowed network may
        take (the allow-list may have changed since the subscription was registered)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if is_address(host):
            return addresses_problem(host, [host], parts.scheme, self._allowed)
        if parts.scheme == "http":
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, parts.port or 80, type=socket.SOCK_STREAM
                )
            except OSError as unresolved:
                return f"{host} does not resolve: {unresolved}"
            found = sorted({info[4][0] for info in infos})
            return addresses_problem(host, found, "http", self._allowed)
        return None

    async def _end(self, key: str, tracked: _Tracked, notification, *, delivered: bool) -> None:
        item = tracked.item
        outcome = N.WebhookAttempted(
            notification_id=item.notification_id,
            recipient=item.recipient,
            subscription_id=item.target.subscription_id,
            delivered=delivered,
            attempts=tracked.attempts,
            last_error=tracked.last_error if not delivered else "",
        )
        await self._report(outcome)
        self.delivered += delivered
        if not delivered:
            await self._failed(outcome, notification)
        self._tracked.pop(key, None)
