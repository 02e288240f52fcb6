"""Webhooks on the real broker, to real local receivers (aiohttp on port 0) that verify every
signature with the `standardwebhooks` package: one fails twice and then takes the
notification; one never does (the notification fails, visibly to its recipient and on the
dead-letter topic); a dead endpoint does not hold up a live one."""

from __future__ import annotations

import asyncio
import ipaddress
import json

import grpc
import pytest
from aiohttp import web
from ipcoord.notifications.domain.retry import RetrySchedule
from ipcoord.notifications.main import build
from ipcoord.platform.topics import CASES, DEADLETTER
from ipcoord.v1 import envelope_pb2, notifications_pb2_grpc
from ipcoord.v1 import notifications_pb2 as N
from standardwebhooks import Webhook
from support.kafka import eventually, produce_envelopes, read_topic
from support.notifications import case_facts

FAST = RetrySchedule(first_delay_s=0.05, factor=2, max_delay_s=0.2, max_attempts=4)


class Receiver:
    """A bureau's webhook endpoint: answers 500 to the first ``failures`` deliveries (None:
    to all), and keeps the deliveries whose signature verifies."""

    def __init__(self, failures: int | None) -> None:
        self.failures = failures
        self.secret = ""
        self.attempts = 0
        self.received: list[dict] = []
        self.unverified = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = await request.text()
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except Exception:
            self.unverified += 1
            return web.Response(status=400)
        if self.failures is None or self.attempts <= self.failures:
            return web.Response(status=500)
        self.received.append({"id": request.headers["webhook-id"], **payload})
        return web.Response(status=204)


@pytest.fixture
async def stub(settings):
    local = settings.model_copy(
        update={"webhook_allowed_networks": (ipaddress.ip_network("127.0.0.0/8"),)}
    )
    service = await build(local, retry=FAST)
    await service.handle.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        yield notifications_pb2_grpc.NotificationsStub(channel)
    await service.handle.stop()


def _as(bureau: str):
    return (("x-ipcoord-bureau", bureau),)


async def _register(stub, bureau: str, receiver: Receiver) -> N.Subscription:
    async def put():
        try:
            return await stub.PutSubscription(
                N.Subscription(
                    filter=N.SubscriptionFilter(event_types=["CaseFiled"]),
                    channels=[N.CHANNEL_WEBHOOK],
                    webhook_url=receiver.url,
                ),
                metadata=_as(bureau),
                timeout=30,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            return None

    kept = await eventually(put)
    receiver.secret = kept.webhook_secret
    assert kept.webhook_secret.startswith("whsec_")
    return kept


async def _webhook_state(stub, bureau: str) -> list[tuple[int, int]]:
    page = await stub.ListNotifications(N.ListNotificationsRequest(), metadata=_as(bureau))
    return [(w.state, w.attempts) for n in page.notifications for w in n.webhooks]


async def test_a_webhook_is_retried_until_taken_and_a_dead_one_fails_visibly(settings, stub):
    flaky, dead = Receiver(failures=2), Receiver(failures=None)
    for receiver in (flaky, dead):
        await receiver.start()
    try:
        flaky_sub = await _register(stub, "customs-gz", flaky)
        dead_sub = await _register(stub, "psb-sz", dead)
        produce_envelopes(settings, CASES, case_facts("C-50", 1))

        await eventually(lambda: flaky.received, timeout_s=30)
        delivered = flaky.received[0]
        assert flaky.attempts == 3 and flaky.unverified == 0
        assert delivered["type"] == "ipcoord.notification"
        record = delivered["data"]["record"]
        assert record["sourceEventType"] == "CaseFiled" and record["recipient"] == "customs-gz"
        # webhook-id is the notification id: a receiver de-duplicates retries on it.
        assert delivered["id"] == record["notificationId"]
        await eventually(
            lambda: _is(stub, "customs-gz", [(N.DELIVERY_STATE_DELIVERED, 3)]), timeout_s=30
        )

        await eventually(
            lambda: _is(stub, "psb-sz", [(N.DELIVERY_STATE_FAILED, FAST.max_attempts)]),
            timeout_s=30,
        )
        assert dead.attempts == FAST.max_attempts and dead.unverified == 0
        page = await stub.ListNotifications(N.ListNotificationsRequest(), metadata=_as("psb-sz"))
        assert "HTTP 500" in page.notifications[0].webhooks[0].last_error
        letters = [
            envelope_pb2.DeadLetter.FromString(r.value) for r in read_topic(settings, DEADLETTER)
        ]
        failed = [d for d in letters if d.error_class == "WebhookDeliveryFailed"]
        assert len(failed) == 1 and dead_sub.subscription_id in failed[0].reason
        assert failed[0].original_key == b"psb-sz"
        assert flaky_sub.subscription_id not in failed[0].reason
    finally:
        for receiver in (flaky, dead):
            await receiver.stop()


async def _is(stub, bureau: str, expected) -> bool:
    return await _webhook_state(stub, bureau) == expected


async def test_a_dead_endpoint_does_not_hold_up_a_live_one(settings, stub):
    live, dead = Receiver(failures=0), Receiver(failures=None)
    for receiver in (live, dead):
        await receiver.start()
    try:
        await _register(stub, "customs-gz", live)
        await _register(stub, "psb-sz", dead)
        for n in range(10):
            produce_envelopes(settings, CASES, case_facts(f"C-6{n}", 1))
        await eventually(lambda: len(live.received) == 10, timeout_s=30)
        assert live.attempts == 10  # each once: the dead one's retries took nothing from it
        ids = [json.dumps(r["data"]["record"]["sequence"]) for r in live.received]
        assert len(set(ids)) == 10
    finally:
        await asyncio.gather(live.stop(), dead.stop())


async def test_a_restart_resumes_pending_deliveries(settings):
    local = settings.model_copy(
        update={"webhook_allowed_networks": (ipaddress.ip_network("127.0.0.0/8"),)}
    )
    patient = RetrySchedule(first_delay_s=600, max_delay_s=600, max_attempts=5)
    receiver = Receiver(failures=1)  # down at first; up once the service has restarted
    await receiver.start()
    first = await build(local, retry=patient)
    await first.handle.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{first.grpc_port}") as channel:
            await _register(notifications_pb2_grpc.NotificationsStub(channel), "amr-sh", receiver)
        produce_envelopes(settings, CASES, case_facts("C-70", 1, handling="amr-sh"))
        await eventually(lambda: receiver.attempts == 1)  # failed; next try in ten minutes
    finally:
        await first.handle.stop()
    again = await build(local, retry=patient)
    await again.handle.start()
    try:
        await eventually(lambda: receiver.received, timeout_s=30)  # resumed at once
        assert receiver.received[0]["data"]["record"]["recipient"] == "amr-sh"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{again.grpc_port}") as channel:
            stub = notifications_pb2_grpc.NotificationsStub(channel)
            await eventually(
                lambda: _is(stub, "amr-sh", [(N.DELIVERY_STATE_DELIVERED, 1)]), timeout_s=30
            )
    finally:
        await again.handle.stop()
        await receiver.stop()
