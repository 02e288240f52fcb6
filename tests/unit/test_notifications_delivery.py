"""The webhook deliverer without a network (its POST replaced): a slow endpoint fills only its
own bounded queue, and what overflowed is read again from the pending table; a recipient that
moved to another replica is left to it; a failure is retried on the schedule, then reported
failed."""

from __future__ import annotations

import asyncio
import ipaddress

from ipcoord.notifications.delivery import WebhookDeliverer
from ipcoord.notifications.domain.retry import RetrySchedule
from ipcoord.v1 import notifications_pb2 as N
from ipcoord.v1 import notifications_state_pb2 as R
from support.kafka import eventually


def _pending(n: int, host: str, recipient: str = "ipb-sz") -> R.PendingWebhook:
    return R.PendingWebhook(
        notification_id=f"N-{host}-{n}",
        recipient=recipient,
        sequence=n,
        target=N.WebhookTarget(subscription_id=f"S-{host}", url=f"https://{host}/hook"),
    )


class Deliverer(WebhookDeliverer):
    """POSTs nowhere: ``answers`` decides each attempt; ``gate`` holds one host's."""

    def __init__(self, table: list[R.PendingWebhook], **kwargs) -> None:
        self.reported: list[N.WebhookAttempted] = []
        self.deleted: set[str] = set()
        self.posted: list[str] = []
        self.gate = asyncio.Event()
        self.slow_host = ""
        self.answers = lambda item: None  # None: taken

        async def report(outcome):
            self.reported.append(outcome)
            table[:] = [p for p in table if p.notification_id != outcome.notification_id]

        async def failed(outcome, notification):
            pass

        defaults = dict(
            secret_of=lambda r, s: "whsec_" + "A" * 44,
            notification_of=lambda r, s: N.Notification(),
            pending=lambda: list(table),
            owns=lambda recipient: True,
            still_pending=lambda recipient, sequence, sid: sid not in self.deleted,
            report=report,
            failed=failed,
            schedule=RetrySchedule(first_delay_s=0.01, max_delay_s=0.02, max_attempts=3),
        )
        super().__init__(**{**defaults, **kwargs})

    async def _post(self, item, notification):
        if self.slow_host and self.slow_host in item.target.url:
            await self.gate.wait()
        self.posted.append(item.notification_id)
        return self.answers(item)


async def _until(predicate) -> None:
    await eventually(predicate, timeout_s=5.0, interval_s=0.01)


async def test_a_slow_endpoint_fills_its_own_queue_and_overflow_is_read_again():
    table = [_pending(n, "slow.example") for n in range(1, 8)] + [_pending(1, "fast.example")]
    deliverer = Deliverer(table, queue_size=2)
    deliverer.slow_host = "slow.example"
    await deliverer.start()
    try:
        for item in table[:]:
            deliverer.offer(item)
        await _until(lambda: "N-fast.example-1" in deliverer.posted)  # not held up
        assert not any("slow" in p for p in deliverer.posted)
        deliverer.gate.set()
        await _until(lambda: len(deliverer.reported) == 8)
        slow = [p for p in deliverer.posted if "slow" in p]
        assert sorted(slow) == sorted(f"N-slow.example-{n}" for n in range(1, 8))
        assert len(slow) == 7  # each once
    finally:
        await deliverer.stop()


async def test_a_recipient_owned_elsewhere_is_left_to_its_owner():
    table = [_pending(1, "a.example", recipient="ipb-gd")]
    deliverer = Deliverer(table, owns=lambda recipient: recipient != "ipb-gd")
    await deliverer.start()
    try:
        assert deliverer.resume_pending() == 0
        deliverer.offer(table[0])
        await _until(lambda: deliverer.in_flight == 0)
        assert deliverer.posted == [] and deliverer.reported == []
    finally:
        await deliverer.stop()


async def test_a_failing_endpoint_is_retried_then_reported_failed():
    table = [_pending(1, "down.example")]
    deliverer = Deliverer(table)
    deliverer.answers = lambda item: "HTTP 503 from https://down.example/hook"
    await deliverer.start()
    try:
        assert deliverer.resume_pending() == 1
        await _until(lambda: deliverer.reported)
        [outcome] = deliverer.reported
        assert not outcome.delivered and outcome.attempts == 3
        assert outcome.last_error.startswith("HTTP 503")
        assert len(deliverer.posted) == 3
    finally:
        await deliverer.stop()


def _checking(**kwargs) -> WebhookDeliverer:
    """A deliverer whose checks before connecting are tried alone."""
    return WebhookDeliverer(
        secret_of=lambda r, s: "",
        notification_of=lambda r, s: None,
        pending=list,
        owns=lambda r: True,
        still_pending=lambda r, n, s: True,
        report=None,
        failed=None,
        schedule=RetrySchedule(),
        **kwargs,
    )


async def test_an_address_in_the_url_and_plain_http_are_checked_before_each_post():
    deliverer = _checking()
    refused = deliverer._refused_before_connecting
    assert "own network" in await refused("http://127.0.0.1:8080/hook")
    assert "own network" in await refused("https://[::1]/hook")
    assert "https" in await refused("http://93.184.216.34/hook")
    assert await refused("https://93.184.216.34/hook") is None
    allowed = _checking(allowed=[ipaddress.ip_network("127.0.0.0/8")])
    assert await allowed._refused_before_connecting("http://127.0.0.1:8080/hook") is None


async def test_a_webhook_whose_end_is_recorded_meanwhile_is_not_tried():
    """Its subscription deleted (or its notification gone from the inbox) while it waited."""
    table = [_pending(1, "gone.example"), _pending(2, "gone.example")]
    deliverer = Deliverer(table)
    deliverer.deleted.add("S-gone.example")
    await deliverer.start()
    try:
        assert deliverer.resume_pending() == 2
        await _until(lambda: deliverer.in_flight == 0)
        assert deliverer.posted == [] and deliverer.reported == []
    finally:
        await deliverer.stop()
