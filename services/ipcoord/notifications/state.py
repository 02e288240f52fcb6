"""What the notifications service knows, in two single-writer parts.

The router (one partition, ``ipcoord.notifications.routing.v1``): who takes part in each case,
special action and listing, learnt from the facts (domain/routing.py), and every recipient's
subscriptions. The recipients' writers (``ipcoord.notifications.commands.v1``, partitioned by
recipient): each recipient's numbered notifications, the newest INBOX_KEPT of them, and the
webhook deliveries still to make.

Every value is bounded: a Kafka record (a table's changelog) holds at most 1 MB."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field

from ipcoord.notifications.domain.routing import ActionParties, CaseParties, ListingParties
from ipcoord.v1 import notifications_pb2 as N
from ipcoord.v1 import notifications_state_pb2 as R

# A recipient's notifications kept for its inbox and for resuming a stream; older ones stay on
# ipcoord.notifications.v1 only.
INBOX_KEPT = 10_000
SUBSCRIPTIONS_PER_RECIPIENT = 50

# The router's fields computed from its stored tables: in memory, rebuilt, never stored.
ROUTER_DERIVED = ("subscription_index", "subscription_owner")


@dataclass
class RouterState:
    cases: MutableMapping[str, CaseParties] = field(default_factory=dict)
    actions: MutableMapping[str, ActionParties] = field(default_factory=dict)
    listings: MutableMapping[str, ListingParties] = field(default_factory=dict)
    # recipient -> its subscriptions (at most SUBSCRIPTIONS_PER_RECIPIENT).
    subscriptions_of: MutableMapping[str, R.RecipientSubscriptions] = field(default_factory=dict)
    # "<dimension>:<value>" -> "<recipient>/<subscription id>" of the subscriptions filed under
    # it (domain/subscriptions.py says which dimension), so a fact is matched against the few
    # that can match it rather than all.
    subscription_index: MutableMapping[str, list[str]] = field(default_factory=dict)
    # "<recipient>/<subscription id>" of every subscription -> its recipient (ids are each
    # recipient's own).
    subscription_owner: MutableMapping[str, str] = field(default_factory=dict)


@dataclass
class RecipientState:
    # recipient -> its last sequence number and unread count.
    inboxes: MutableMapping[str, R.InboxRecord] = field(default_factory=dict)
    # notification_key(recipient, sequence) -> the notification.
    notifications: MutableMapping[str, N.Notification] = field(default_factory=dict)
    # id_key(recipient, notification id) -> its sequence: a notification routed twice (the
    # router's input redelivered) is recorded once.
    notification_ids: MutableMapping[str, R.NotificationRef] = field(default_factory=dict)
    # pending_key(recipient, sequence, subscription id) -> a webhook delivery still to make.
    pending: MutableMapping[str, R.PendingWebhook] = field(default_factory=dict)


def notification_key(recipient: str, sequence: int) -> str:
    # Zero-padded: a recipient's keys sort by sequence.
    return f"{recipient}/{sequence:020d}"


def id_key(recipient: str, notification_id: str) -> str:
    return f"{recipient}/{notification_id}"


def pending_key(recipient: str, sequence: int, subscription_id: str) -> str:
    return f"{recipient}/{sequence:020d}/{subscription_id}"


def recipient_of_key(key: str) -> str:
    return key.split("/", 1)[0]
