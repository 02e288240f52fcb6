"""The router's and the recipients' writers' rules, without a broker: a fact routed twice is
one notification; sequences are gap-free per recipient; the inbox keeps the newest
INBOX_KEPT; acknowledgement and webhook outcomes; subscriptions bounded, owned and indexed;
replaying the facts rebuilds the same state."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ipcoord.notifications.domain import inbox, router
from ipcoord.notifications.domain.subscriptions import filed_under
from ipcoord.notifications.domain.summary import summary_of
from ipcoord.notifications.processor import RecipientLogic, RouterLogic
from ipcoord.notifications.replay import rebuilt
from ipcoord.notifications.state import (
    INBOX_KEPT,
    SUBSCRIPTIONS_PER_RECIPIENT,
    RecipientState,
    RouterState,
    notification_key,
    pending_key,
)
from ipcoord.notifications.state_codecs import RECIPIENT_CODECS, ROUTER_CODECS
from ipcoord.notifications.stream import check_routed, command
from ipcoord.platform import codec
from ipcoord.platform.errors import InvalidInput, LimitReached, NotFound
from ipcoord.platform.ownership import partition_of
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import notifications_pb2 as N
from support.notifications import case_facts


def _route(state: RouterState, env: codec.Envelope) -> N.FactRouted:
    [routed] = router.decide(N.RouteFact(fact=codec.encode(env)), state)
    router.evolve(state, routed)
    return routed


def _record(state: RecipientState, routed: N.NotificationRouted) -> list:
    facts = inbox.decide(routed, state)
    for fact in facts:
        inbox.evolve(state, fact, fact_time())
    return facts


def fact_time() -> datetime:
    return datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _subscribe(state: RouterState, recipient: str, sid: str, **filter_) -> N.SubscriptionChanged:
    subscription = N.Subscription(
        subscription_id=sid, recipient=recipient, filter=N.SubscriptionFilter(**filter_)
    )
    [changed] = router.decide(subscription, state)
    router.evolve(state, changed)
    return changed


def test_a_fact_routed_twice_is_one_notification_numbered_without_gaps():
    routing, recipients = RouterState(), RecipientState()
    facts = case_facts("C-1", 3)
    numbered = []
    for env in facts + facts[1:2]:  # the second fact redelivered
        for route in _route(routing, env).routes:
            numbered += [f.sequence for f in _record(recipients, route)]
    assert numbered == [1, 2, 3]
    again = _route(routing, facts[0]).routes[0]
    assert again.notification_id == router.notification_id(facts[0].event_id, "ipb-sz")
    assert _record(recipients, again) == []
    assert recipients.inboxes["ipb-sz"].last_sequence == 3
    assert recipients.inboxes["ipb-sz"].unread == 3


def test_the_inbox_keeps_the_newest_and_forgets_the_oldest_whole():
    recipients = RecipientState()
    all_facts = []
    for n in range(INBOX_KEPT + 2):
        all_facts += _record(
            recipients,
            N.NotificationRouted(
                notification_id=f"N-{n}",
                recipient="ipb-sz",
                webhooks=[N.WebhookTarget(subscription_id="S-1", url="https://a.example/h")]
                if n == 0
                else [],
            ),
        )
    assert len(recipients.notifications) == INBOX_KEPT
    assert notification_key("ipb-sz", 1) not in recipients.notifications
    assert notification_key("ipb-sz", 3) in recipients.notifications
    assert "ipb-sz/N-0" not in recipients.notification_ids
    assert not recipients.pending  # the forgotten one's webhook is no longer tried...
    [expired] = [f for f in all_facts if isinstance(f, N.NotificationFailed)]
    assert expired.notification_id == "N-0" and "left the inbox" in expired.last_error
    assert recipients.inboxes["ipb-sz"].unread == INBOX_KEPT


def test_acknowledgement_marks_only_unread_kept_notifications_of_the_recipient():
    recipients = RecipientState()
    for n in range(3):
        _record(recipients, N.NotificationRouted(notification_id=f"N-{n}", recipient="ipb-sz"))
    _record(recipients, N.NotificationRouted(notification_id="N-x", recipient="ipb-gd"))
    ask = N.AcknowledgeRequest(recipient="ipb-sz", notification_ids=["N-0", "N-0", "N-x", "N-9"])
    [marked] = inbox.decide(ask, recipients)
    assert list(marked.notification_ids) == ["N-0"]  # N-x is another recipient's
    inbox.evolve(recipients, marked, fact_time())
    assert inbox.decide(ask, recipients) == []
    assert recipients.inboxes["ipb-sz"].unread == 2
    assert recipients.inboxes["ipb-gd"].unread == 1
    with pytest.raises(InvalidInput):
        inbox.decide(
            N.AcknowledgeRequest(recipient="ipb-sz", notification_ids=["a"] * 1001), recipients
        )


def test_a_webhook_outcome_is_recorded_once_and_ends_the_pending_delivery():
    recipients = RecipientState()
    target = N.WebhookTarget(subscription_id="S-1", url="https://a.example/h")
    _record(
        recipients,
        N.NotificationRouted(notification_id="N-1", recipient="ipb-sz", webhooks=[target]),
    )
    assert pending_key("ipb-sz", 1, "S-1") in recipients.pending
    outcome = N.WebhookAttempted(
        notification_id="N-1",
        recipient="ipb-sz",
        subscription_id="S-1",
        attempts=8,
        last_error="HTTP 500",
    )
    [failed] = inbox.decide(outcome, recipients)
    assert isinstance(failed, N.NotificationFailed) and failed.sequence == 1
    inbox.evolve(recipients, failed, fact_time())
    assert inbox.decide(outcome, recipients) == []  # reported again by a previous owner
    [hook] = recipients.notifications[notification_key("ipb-sz", 1)].webhooks
    assert (hook.state, hook.attempts, hook.last_error) == (N.DELIVERY_STATE_FAILED, 8, "HTTP 500")
    assert not recipients.pending


def test_subscriptions_are_bounded_owned_indexed_and_matched():
    routing = RouterState()
    _subscribe(routing, "customs-gz", "S-a", case_ids=["C-1"])
    _subscribe(routing, "customs-gz", "S-b", event_types=["CaseAccepted"])
    _subscribe(routing, "psb-sz", "S-c")
    assert filed_under(routing.subscriptions_of["customs-gz"].subscriptions[0]) == ["case:C-1"]
    routed = _route(routing, case_facts("C-1", 1)[0])  # CaseFiled of C-1
    assert {(r.recipient, r.reason) for r in routed.routes} == {
        ("ipb-sz", "handling-bureau"),
        ("customs-gz", "S-a"),
        ("psb-sz", "S-c"),
    }
    # Ids are each recipient's own: another's S-a is another subscription.
    _subscribe(routing, "psb-sz", "S-a", case_ids=["C-2"])
    assert {"customs-gz/S-a", "psb-sz/S-a"} <= set(routing.subscription_owner)
    with pytest.raises(NotFound):
        router.decide(
            N.DeleteSubscriptionRequest(subscription_id="S-b", recipient="psb-sz"), routing
        )
    [removed] = router.decide(
        N.DeleteSubscriptionRequest(subscription_id="S-a", recipient="customs-gz"), routing
    )
    router.evolve(routing, removed)
    assert "case:C-1" not in routing.subscription_index
    assert [s.subscription_id for s in routing.subscriptions_of["customs-gz"].subscriptions] == [
        "S-b"
    ]
    for n in range(SUBSCRIPTIONS_PER_RECIPIENT):
        _subscribe(routing, "amr-sz", f"S-{n}")
    with pytest.raises(LimitReached, match="delete one first"):
        router.decide(N.Subscription(subscription_id="S-new", recipient="amr-sz"), routing)
    _subscribe(routing, "amr-sz", "S-0", case_ids=["C-9"])  # a change is no new one


def test_the_stored_tables_round_trip_through_their_codecs():
    routing, recipients = RouterState(), RecipientState()
    _subscribe(routing, "customs-gz", "S-a", entities=["X"])
    for env in case_facts("C-1", 2):
        for route in _route(routing, env).routes:
            _record(recipients, route)
    for state, codecs in ((routing, ROUTER_CODECS), (recipients, RECIPIENT_CODECS)):
        for name, table_codec in codecs.items():
            for value in getattr(state, name).values():
                assert table_codec.decode(table_codec.encode(value)) == value, name


def test_replaying_the_recorded_facts_rebuilds_the_writers_state():
    routing, recipients, logged = RouterState(), RecipientState(), []
    changed = _subscribe(routing, "customs-gz", "S-a", case_ids=["C-1"])
    logged.append(codec.envelope(changed, producer_bureau="x", subject_key="customs-gz"))
    sources = case_facts("C-1", 3)
    for env in sources:
        for route in _route(routing, env).routes:
            for fact in _record(recipients, route):
                logged.append(codec.envelope(fact, producer_bureau="x", subject_key="r"))
    again_routing, again_recipients = rebuilt(sources, logged + logged[2:4])  # repeats
    assert dict(again_routing.cases) == dict(routing.cases)
    assert dict(again_routing.subscriptions_of) == dict(routing.subscriptions_of)
    assert dict(again_routing.subscription_index) == dict(routing.subscription_index)
    for name in ("inboxes", "notification_ids", "pending"):
        assert dict(getattr(again_recipients, name)) == dict(getattr(recipients, name)), name
    assert set(again_recipients.notifications) == set(recipients.notifications)


def test_only_the_service_commands_of_each_topic_are_taken():
    forged = codec.envelope(
        S.CaseFiled(case_id="C-1"), producer_bureau="ipb-sz", subject_key="route"
    )
    for logic in (RouterLogic(), RecipientLogic()):
        with pytest.raises(codec.InvalidEnvelope):
            logic.command_of(forged, system=True)
    wrong_topic = codec.envelope(
        N.NotificationCommand(acknowledge=N.AcknowledgeRequest(recipient="ipb-sz")),
        producer_bureau="ipb-sz",
        subject_key="route",
    )
    with pytest.raises(codec.InvalidEnvelope, match="does not belong"):
        RouterLogic().command_of(wrong_topic, system=True)


def test_a_summary_says_what_happened_to_what():
    line = summary_of(S.CaseTransferred(case_id="C-1", from_bureau="a", to_bureau="b"), "C-1")
    assert line == "Case transferred: case C-1, from a, to b"
    assert summary_of(S.CaseAccepted(), "k") == "Case accepted: k"


def test_a_recipients_command_on_another_partition_is_refused():
    routed = command(
        N.NotificationRouted(notification_id="N-1", recipient="ipb-sz"),
        actor="ipcoord-notifications",
        key="ipb-sz",
    )
    home = partition_of("ipb-sz", 6)
    check_routed(routed, home)  # where it belongs: taken
    with pytest.raises(codec.InvalidEnvelope, match="recipient's partition is"):
        check_routed(routed, (home + 1) % 6)
    changed = command(
        N.SubscriptionChanged(subscription=N.Subscription(recipient="ipb-sz")),
        actor="ipcoord-notifications",
        key="ipb-sz",
    )
    check_routed(changed, home)


def test_deleting_a_subscription_ends_its_pending_webhooks_as_failed():
    recipients = RecipientState()
    hook = N.WebhookTarget(subscription_id="S-1", url="https://a.example/h")
    other = N.WebhookTarget(subscription_id="S-2", url="https://b.example/h")
    for n in range(2):
        _record(
            recipients,
            N.NotificationRouted(
                notification_id=f"N-{n}", recipient="ipb-sz", webhooks=[hook, other]
            ),
        )
    removed = N.SubscriptionChanged(
        subscription=N.Subscription(subscription_id="S-1", recipient="ipb-sz"), removed=True
    )
    facts = inbox.decide(removed, recipients)
    assert [type(f).__name__ for f in facts] == ["SubscriptionChanged", *["NotificationFailed"] * 2]
    assert all("deleted" in f.last_error for f in facts[1:])
    for fact in facts:
        inbox.evolve(recipients, fact, fact_time())
    assert sorted(recipients.pending) == [pending_key("ipb-sz", n, "S-2") for n in (1, 2)]
