"""The notifications service on the real broker: one case's lifecycle fanned out to the right
recipients and nobody else; the gap-free sequence, the inbox and acknowledgement; a stream
resumed after a disconnect with no gap and no duplicate (a real gRPC client); subscriptions;
one bureau cannot read another's inbox or follow its stream."""

from __future__ import annotations

import asyncio
import dataclasses

import grpc
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from ipcoord.notifications.main import build
from ipcoord.notifications.replay import rebuilt
from ipcoord.platform import codec
from ipcoord.platform.topics import CASES, CREDIT, NOTIFICATIONS
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import notifications_pb2 as N
from ipcoord.v1 import notifications_pb2_grpc
from support import callers
from support.kafka import eventually, produce_envelopes, read_envelopes, read_topic
from support.notifications import RESPONDENT, case_facts, fact
from support.reports import RIGHT_HOLDER, report

OPERATOR = "cnipa"


def Caller(channel, bureau: str) -> callers.Caller:
    return callers.Caller(notifications_pb2_grpc.NotificationsStub(channel), bureau)


@pytest.fixture
async def notifications(settings):
    service = await build(settings.model_copy(update={"operators": frozenset({OPERATOR})}))
    await service.handle.start()
    yield service
    await service.handle.stop()


@pytest.fixture
async def as_bureau(notifications):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{notifications.grpc_port}") as channel:
        # Lookups answer once the tables are recovered and what is derived from them rebuilt.
        await eventually(lambda: _has(Caller(channel, OPERATOR), OPERATOR, 0))
        await eventually(lambda: _has_subscriptions(Caller(channel, OPERATOR)))
        yield lambda bureau: Caller(channel, bureau)


def _lifecycle() -> list[tuple[object, codec.Envelope]]:
    """A special action, then a case filed, enrolled, decided, and its respondent listed."""
    filed = S.CaseFiled(
        case_id="C-1",
        submitting_bureau="monitor-cnipa",
        handling_bureau="ipb-sz",
        report=report("r-1", respondent_uscc=RESPONDENT),
    )
    decided = S.CaseDecided(
        case_id="C-1",
        by_bureau="ipb-sz",
        decision=S.Decision(infringement_established=True, respondent_uscc=RESPONDENT),
    )
    listed = C.SeriousDishonestyListed(
        listing_id=f"L-{RESPONDENT}-1",
        entity={"uscc": RESPONDENT},
        initiating_department="cnipa",
        measures=[
            C.Measure(code="NDRC-01", implementing_department="ndrc"),
            C.Measure(code="MOF-01", implementing_department="mof"),
        ],
    )
    return [
        (CASES, fact(filed, "C-1")),
        (CASES, fact(S.CaseEnrolled(action_id="A-1", case_id="C-1"), "C-1")),
        (CASES, fact(decided, "C-1")),
        (CREDIT, fact(listed, RESPONDENT)),
    ]


async def _inbox(caller, recipient: str) -> list[N.Notification]:
    page = await caller.ListNotifications(
        N.ListNotificationsRequest(recipient=recipient, page={"page_size": 500})
    )
    return list(reversed(page.notifications))  # oldest first


async def _types(caller, recipient: str) -> list[str]:
    return [n.record.source_event_type for n in await _inbox(caller, recipient)]


async def test_a_case_lifecycle_reaches_the_right_recipients_and_nobody_else(settings, as_bureau):
    operator = as_bureau(OPERATOR)
    launched = S.SpecialActionLaunched(
        action_id="A-1", lead_bureau="ipb-gd", participating_bureaus=["amr-sz"]
    )
    produce_envelopes(settings, CASES, [fact(launched, "A-1")])
    # The launch first: the enrolment on another partition must find the action known.
    await eventually(lambda: _has(operator, "amr-sz", 1))
    produce_envelopes(settings, CASES, [env for spec, env in _lifecycle() if spec is CASES])
    produce_envelopes(settings, CREDIT, [env for spec, env in _lifecycle() if spec is CREDIT])
    await eventually(lambda: _has(operator, "mof", 1))
    await eventually(lambda: _has(operator, "ipb-gd", 3))

    expected = {
        "ipb-sz": ["CaseFiled", "CaseEnrolled", "CaseDecided"],
        "ipb-gd": ["SpecialActionLaunched", "CaseEnrolled", "CaseDecided"],
        "amr-sz": ["SpecialActionLaunched", "CaseEnrolled", "CaseDecided"],
        RIGHT_HOLDER: ["CaseDecided"],
        "cnipa": ["SeriousDishonestyListed"],
        "ndrc": ["SeriousDishonestyListed"],
        "mof": ["SeriousDishonestyListed"],
    }
    for recipient, types in expected.items():
        inbox = await _inbox(operator, recipient)
        assert sorted(n.record.source_event_type for n in inbox) == sorted(types), recipient
        # Gap-free from 1, each notification with its reason and a stable id.
        assert [n.record.sequence for n in inbox] == list(range(1, len(types) + 1))
        assert all(n.record.reason and n.record.notification_id for n in inbox)
    reasons = {n.record.reason for n in await _inbox(operator, RIGHT_HOLDER)}
    assert reasons == {"right-holder"}
    for nobody in ("customs-gz", "psb-sz", "monitor-cnipa", "amr-sh"):
        assert await _types(operator, nobody) == [], nobody


async def _has_subscriptions(caller) -> bool:
    try:
        await caller.ListSubscriptions(N.ListSubscriptionsRequest())
        return True
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.UNAVAILABLE:
            raise
        return False


async def _has(caller, recipient: str, count: int) -> bool:
    try:
        return len(await _inbox(caller, recipient)) >= count
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.UNAVAILABLE:  # a rebuild after the assignment
            raise
        return False


async def _take(stream, count: int) -> list[N.Notification]:
    taken = []
    async for notification in stream:
        taken.append(notification)
        if len(taken) == count:
            break
    return taken


async def test_a_stream_resumes_after_a_disconnect_with_no_gap_and_no_duplicate(
    settings, as_bureau
):
    bureau = as_bureau("ipb-sz")
    produce_envelopes(settings, CASES, case_facts("C-10", 5))
    first = bureau.Subscribe(N.SubscribeRequest(after_cursor=0))
    taken = await asyncio.wait_for(_take(first, 3), 30)
    first.cancel()  # the client goes away after the third
    assert [n.record.sequence for n in taken] == [1, 2, 3]

    produce_envelopes(settings, CASES, case_facts("C-11", 4))  # while nobody listens
    again = bureau.Subscribe(N.SubscribeRequest(after_cursor=taken[-1].record.sequence))
    rest = await asyncio.wait_for(_take(again, 6), 30)
    assert [n.record.sequence for n in rest] == [4, 5, 6, 7, 8, 9]
    # Live: a fact produced while the stream is open arrives on it.
    produce_envelopes(settings, CASES, case_facts("C-12", 1))
    live = await asyncio.wait_for(_take(again, 1), 30)
    again.cancel()
    assert live[0].record.sequence == 10 and live[0].record.subject_key == "C-12"
    ids = [n.record.notification_id for n in taken + rest + live]
    assert len(set(ids)) == 10
    assert [n.record.source_event_type for n in rest[:2]] == ["CaseAccepted", "CaseAccepted"]


async def test_the_inbox_pages_and_acknowledges(settings, as_bureau):
    bureau = as_bureau("ipb-sz")
    produce_envelopes(settings, CASES, case_facts("C-20", 5))
    await eventually(lambda: _has(bureau, "ipb-sz", 5))
    page = await bureau.ListNotifications(N.ListNotificationsRequest(page={"page_size": 2}))
    assert [n.record.sequence for n in page.notifications] == [5, 4]  # newest first
    rest = await bureau.ListNotifications(
        N.ListNotificationsRequest(page={"page_size": 10, "page_token": page.next_page_token})
    )
    assert [n.record.sequence for n in rest.notifications] == [3, 2, 1]
    assert not rest.next_page_token

    chosen = [n.record.notification_id for n in page.notifications]
    acked = await bureau.Acknowledge(N.AcknowledgeRequest(notification_ids=[*chosen, "N-unknown"]))
    assert acked.acknowledged == 2
    again = await bureau.Acknowledge(N.AcknowledgeRequest(notification_ids=chosen))
    assert again.acknowledged == 0  # read already
    unread = await bureau.ListNotifications(N.ListNotificationsRequest(unread_only=True))
    assert [n.record.sequence for n in unread.notifications] == [3, 2, 1]
    with pytest.raises(grpc.aio.AioRpcError) as too_many:
        await bureau.Acknowledge(N.AcknowledgeRequest(notification_ids=["x"] * 1001))
    assert too_many.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_bureau_reaches_only_its_own_notifications(settings, as_bureau):
    produce_envelopes(settings, CASES, case_facts("C-30", 1))
    await eventually(lambda: _has(as_bureau(OPERATOR), "ipb-sz", 1))
    other = as_bureau("ipb-gd")
    for call in (
        lambda: other.ListNotifications(N.ListNotificationsRequest(recipient="ipb-sz")),
        lambda: other.Acknowledge(N.AcknowledgeRequest(recipient="ipb-sz")),
        lambda: other.ListSubscriptions(N.ListSubscriptionsRequest(recipient="ipb-sz")),
        lambda: other.PutSubscription(N.Subscription(recipient="ipb-sz")),
        lambda: _take(other.Subscribe(N.SubscribeRequest(recipient="ipb-sz")), 1),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call()
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "only its own" in refused.value.details()
    assert await _types(other, "ipb-gd") == []
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await as_bureau("nobody").ListNotifications(N.ListNotificationsRequest())
    assert unknown.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await as_bureau(OPERATOR).ListNotifications(
            N.ListNotificationsRequest(recipient="not a recipient")
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_subscriptions_add_recipients_and_survive_as_state(settings, as_bureau):
    customs = as_bureau("customs-gz")
    kept = await customs.PutSubscription(
        N.Subscription(
            filter=N.SubscriptionFilter(entities=[RESPONDENT], event_types=["CaseFiled"]),
            channels=[N.CHANNEL_STREAM],
        )
    )
    assert kept.recipient == "customs-gz" and kept.subscription_id.startswith("S-")
    assert not kept.webhook_secret  # no webhook
    listed = await customs.ListSubscriptions(N.ListSubscriptionsRequest())
    assert [s.subscription_id for s in listed.subscriptions] == [kept.subscription_id]

    produce_envelopes(settings, CASES, case_facts("C-40", 2))  # filed, then accepted
    await eventually(lambda: _has(customs, "customs-gz", 1))
    inbox = await _inbox(customs, "customs-gz")
    assert [(n.record.source_event_type, n.record.reason) for n in inbox] == [
        ("CaseFiled", kept.subscription_id)
    ]

    await customs.DeleteSubscription(
        N.DeleteSubscriptionRequest(subscription_id=kept.subscription_id)
    )
    assert not (await customs.ListSubscriptions(N.ListSubscriptionsRequest())).subscriptions
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await customs.DeleteSubscription(
            N.DeleteSubscriptionRequest(subscription_id=kept.subscription_id)
        )
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("subscription", "field"),
    [
        (N.Subscription(filter=N.SubscriptionFilter(event_types=["CaseFiledd"])), "event_types"),
        (N.Subscription(filter=N.SubscriptionFilter(case_ids=[""])), "case_ids"),
        (N.Subscription(channels=[N.CHANNEL_WEBHOOK]), "webhook_url"),
        (
            N.Subscription(channels=[N.CHANNEL_WEBHOOK], webhook_url="http://127.0.0.1:9/hook"),
            "webhook_url",
        ),
        (
            N.Subscription(channels=[N.CHANNEL_WEBHOOK], webhook_url="https://169.254.169.254/x"),
            "webhook_url",
        ),
        (N.Subscription(subscription_id="../../etc"), "subscription_id"),
        (N.Subscription(channels=[7]), "channels"),
        (
            N.Subscription(filter=N.SubscriptionFilter(case_ids=["案" * 60] * 100)),
            "filter",
        ),
        (
            N.Subscription(channels=[N.CHANNEL_WEBHOOK], webhook_url="https://2130706433/x"),
            "webhook_url",
        ),
    ],
)
async def test_a_bad_subscription_is_refused_with_the_field(as_bureau, subscription, field):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await as_bureau("customs-gz").PutSubscription(subscription)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in refused.value.details()


async def test_state_rebuilt_from_the_log_equals_live_state(settings, notifications, as_bureau):
    operator, customs = as_bureau(OPERATOR), as_bureau("customs-gz")
    launched = S.SpecialActionLaunched(
        action_id="A-1", lead_bureau="ipb-gd", participating_bureaus=["amr-sz"]
    )
    produce_envelopes(settings, CASES, [fact(launched, "A-1")])
    await eventually(lambda: _has(operator, "amr-sz", 1))
    kept = await customs.PutSubscription(
        N.Subscription(filter=N.SubscriptionFilter(action_ids=["A-1"]))
    )
    gone = await customs.PutSubscription(N.Subscription(subscription_id="S-gone"))
    await customs.DeleteSubscription(N.DeleteSubscriptionRequest(subscription_id="S-gone"))
    produce_envelopes(settings, CASES, [env for spec, env in _lifecycle() if spec is CASES])
    produce_envelopes(settings, CREDIT, [env for spec, env in _lifecycle() if spec is CREDIT])
    await eventually(lambda: _has(operator, "mof", 1))
    await eventually(lambda: _has(operator, "customs-gz", 2))  # enrolled, decided
    first = (await _inbox(customs, "customs-gz"))[0].record.notification_id
    await customs.Acknowledge(N.AcknowledgeRequest(notification_ids=[first]))
    assert kept.subscription_id != gone.subscription_id
    # Each call returned after its facts were acknowledged; the produced facts were routed.

    router_state, recipients = rebuilt(
        read_envelopes(settings, CASES) + read_envelopes(settings, CREDIT),
        read_envelopes(settings, NOTIFICATIONS),
    )
    for live, again in (
        (notifications.router_state, router_state),
        (notifications.recipients, recipients),
    ):
        for name in (f.name for f in dataclasses.fields(again)):
            assert dict(getattr(live, name).items()) == dict(getattr(again, name)), name
    assert len(recipients.notifications) == 15  # 13 by the default rules, 2 subscribed
    assert set(router_state.subscription_owner) == {f"customs-gz/{kept.subscription_id}"}


async def test_a_fact_delivered_twice_is_one_notification(settings, as_bureau):
    bureau = as_bureau("ipb-sz")
    facts = case_facts("C-80", 2)
    produce_envelopes(settings, CASES, facts)
    produce_envelopes(settings, CASES, facts[:1])  # the filing again, as after a crash upstream
    produce_envelopes(settings, CASES, case_facts("C-81", 1))  # a later one, to wait for
    await eventually(lambda: _has(bureau, "ipb-sz", 3))
    await asyncio.sleep(1)
    inbox = await _inbox(bureau, "ipb-sz")
    assert [n.record.subject_key for n in inbox] == ["C-80", "C-80", "C-81"]
    assert len({n.record.source_event_id for n in inbox}) == 3


async def test_what_the_service_publishes_reads_as_cloudevents(settings, as_bureau):
    """Any Kafka consumer with a CloudEvents SDK reads the service's records (binary mode)."""
    produce_envelopes(settings, CASES, case_facts("C-90", 2))
    await eventually(lambda: _has(as_bureau("ipb-sz"), "ipb-sz", 2))
    records = read_topic(settings, NOTIFICATIONS)
    assert len(records) >= 2
    for record in records:
        event = from_binary(
            KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value),
            JSONFormat(),
        )
        data = event.get_data()
        env = codec.decode(data if isinstance(data, bytes) else data.encode())
        assert (event.get_id(), event.get_type()) == (env.event_id, env.event_type)
        assert event.get_source() == env.producer_bureau == "ipcoord-notifications"
        assert event.get_subject() == "ipb-sz"
