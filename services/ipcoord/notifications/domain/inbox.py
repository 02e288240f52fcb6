"""The rules of a recipient's writer: decide(command, state) -> facts; evolve(state, fact).
No I/O.

The writer of a recipient numbers its notifications 1, 2, 3... with no gap: the sequence is
its stream's cursor. A notification routed twice (same id) is recorded once. Each keeps the
state of its webhook deliveries; the newest INBOX_KEPT per recipient are kept."""

from __future__ import annotations

from google.protobuf.message import Message

from ipcoord.notifications.state import (
    INBOX_KEPT,
    RecipientState,
    id_key,
    notification_key,
    pending_key,
)
from ipcoord.platform.errors import InvalidInput, Violation
from ipcoord.platform.table_codec import timestamp
from ipcoord.v1 import notifications_pb2 as N
from ipcoord.v1 import notifications_state_pb2 as R

ACKNOWLEDGE_MAX = 1_000  # ids per Acknowledge


def decide(body: Message, state: RecipientState) -> list[Message]:
    match body:
        case N.NotificationRouted():
            return record(body, state)
        case N.AcknowledgeRequest():
            return acknowledge(body, state)
        case N.WebhookAttempted():
            return webhook_attempted(body, state)
        case N.SubscriptionChanged():
            # The router decided it; on the recipient's log from here, with the deliveries a
            # removal ends.
            return [body, *_given_up(state, body)]
    raise TypeError(f"a recipient's writer does not handle {type(body).__name__}")


def record(routed: N.NotificationRouted, state: RecipientState) -> list[Message]:
    if id_key(routed.recipient, routed.notification_id) in state.notification_ids:
        return []  # routed again: recorded already
    inbox = state.inboxes.get(routed.recipient)
    sequence = (inbox.last_sequence if inbox else 0) + 1
    channels = [N.CHANNEL_STREAM, N.CHANNEL_INBOX]
    if routed.webhooks:
        channels.append(N.CHANNEL_WEBHOOK)
    return [
        *_expiring(state, routed.recipient, sequence - INBOX_KEPT),
        N.NotificationRecorded(
            notification_id=routed.notification_id,
            recipient=routed.recipient,
            sequence=sequence,
            source_event_id=routed.source_event_id,
            source_event_type=routed.source_event_type,
            subject_key=routed.subject_key,
            summary=routed.summary,
            reason=routed.reason,
            channels=channels,
            occurred_at=routed.occurred_at,
            webhooks=routed.webhooks,
        ),
    ]


def _given_up(state: RecipientState, change: N.SubscriptionChanged) -> list[Message]:
    """A removed subscription's webhooks still pending: failed, not tried again. A scan of the
    pending deliveries (few: only those not yet delivered), for a rare command."""
    if not change.removed:
        return []
    recipient, sid = change.subscription.recipient, change.subscription.subscription_id
    prefix = f"{recipient}/"
    return [
        _failed(item.notification_id, recipient, sid, item.sequence, "its subscription was deleted")
        for key, item in sorted(state.pending.items())
        if key.startswith(prefix) and item.target.subscription_id == sid
    ]


def _failed(notification_id: str, recipient: str, sid: str, sequence: int, why: str):
    return N.NotificationFailed(
        notification_id=notification_id,
        recipient=recipient,
        channel=N.CHANNEL_WEBHOOK,
        last_error=f"given up: {why}",
        subscription_id=sid,
        sequence=sequence,
    )


def _expiring(state: RecipientState, recipient: str, sequence: int) -> list[Message]:
    """The webhooks still pending for the notification that leaves the inbox now: failed,
    visibly (it is long given up, INBOX_KEPT notifications later)."""
    old = state.notifications.get(notification_key(recipient, sequence)) if sequence > 0 else None
    if old is None:
        return []
    why = f"not delivered before it left the inbox (the newest {INBOX_KEPT} stay)"
    return [
        _failed(old.record.notification_id, recipient, hook.subscription_id, sequence, why)
        for hook in old.webhooks
        if pending_key(recipient, sequence, hook.subscription_id) in state.pending
    ]


def acknowledge(request: N.AcknowledgeRequest, state: RecipientState) -> list[Message]:
    if len(request.notification_ids) > ACKNOWLEDGE_MAX:
        raise InvalidInput([Violation("notification_ids", f"at most {ACKNOWLEDGE_MAX} per call")])
    unread = []
    for nid in dict.fromkeys(request.notification_ids):
        ref = state.notification_ids.get(id_key(request.recipient, nid))
        if ref is None:
            continue  # unknown, another recipient's, or no longer kept: nothing to mark
        kept = state.notifications.get(notification_key(request.recipient, ref.sequence))
        if kept is not None and not kept.acknowledged:
            unread.append(nid)
    if not unread:
        return []
    return [N.NotificationsAcknowledged(recipient=request.recipient, notification_ids=unread)]


def webhook_attempted(outcome: N.WebhookAttempted, state: RecipientState) -> list[Message]:
    ref = state.notification_ids.get(id_key(outcome.recipient, outcome.notification_id))
    if ref is None:
        return []
    if pending_key(outcome.recipient, ref.sequence, outcome.subscription_id) not in state.pending:
        return []  # told already (a deliverer of the previous owner may repeat it)
    common = {
        "notification_id": outcome.notification_id,
        "recipient": outcome.recipient,
        "channel": N.CHANNEL_WEBHOOK,
        "attempts": outcome.attempts,
        "subscription_id": outcome.subscription_id,
        "sequence": ref.sequence,
    }
    if outcome.delivered:
        return [N.NotificationDelivered(**common)]
    return [N.NotificationFailed(last_error=outcome.last_error[:1_000], **common)]


# ------------------------------------------------------------------------------ evolve


def evolve(state: RecipientState, event: Message, at) -> None:
    """``at``: when the fact was recorded (its envelope's time)."""
    match event:
        case N.NotificationRecorded():
            _recorded(state, event, at)
        case N.NotificationsAcknowledged():
            _acknowledged(state, event)
        case N.NotificationDelivered() | N.NotificationFailed():
            _delivery_ended(state, event)
        case N.SubscriptionChanged():
            pass  # the router keeps subscriptions; a removal's failures are their own facts
        case N.NotificationCommandRejected():
            pass
        case _:
            raise TypeError(f"a recipient's writer does not apply {type(event).__name__}")


def _recorded(state: RecipientState, event: N.NotificationRecorded, at) -> None:
    recipient, sequence = event.recipient, event.sequence
    inbox = state.inboxes.get(recipient)
    state.inboxes[recipient] = R.InboxRecord(
        last_sequence=sequence,
        unread=(inbox.unread if inbox else 0) + 1,
    )
    kept = N.Notification(
        record=event,
        recorded_at=timestamp(at),
        webhooks=[
            N.WebhookDelivery(
                subscription_id=w.subscription_id, url=w.url, state=N.DELIVERY_STATE_PENDING
            )
            for w in event.webhooks
        ],
    )
    state.notifications[notification_key(recipient, sequence)] = kept
    state.notification_ids[id_key(recipient, event.notification_id)] = R.NotificationRef(
        sequence=sequence
    )
    for target in event.webhooks:
        state.pending[pending_key(recipient, sequence, target.subscription_id)] = R.PendingWebhook(
            notification_id=event.notification_id,
            recipient=recipient,
            sequence=sequence,
            target=target,
        )
    if sequence > INBOX_KEPT:
        _forget(state, recipient, sequence - INBOX_KEPT)


def _forget(state: RecipientState, recipient: str, sequence: int) -> None:
    """The oldest kept notification goes (it stays on the log); its pending webhooks were
    recorded failed just before (_expiring)."""
    old = state.notifications.get(notification_key(recipient, sequence))
    if old is None:
        return
    inbox = state.inboxes[recipient]
    if not old.acknowledged and inbox.unread:
        state.inboxes[recipient] = _with_unread(inbox, inbox.unread - 1)
    for hook in old.webhooks:
        key = pending_key(recipient, sequence, hook.subscription_id)
        if key in state.pending:
            del state.pending[key]
    del state.notifications[notification_key(recipient, sequence)]
    old_id = id_key(recipient, old.record.notification_id)
    if old_id in state.notification_ids:
        del state.notification_ids[old_id]


def _with_unread(inbox: R.InboxRecord, unread: int) -> R.InboxRecord:
    changed = R.InboxRecord()
    changed.CopyFrom(inbox)
    changed.unread = unread
    return changed


def _acknowledged(state: RecipientState, event: N.NotificationsAcknowledged) -> None:
    recipient, marked = event.recipient, 0
    for nid in event.notification_ids:
        ref = state.notification_ids.get(id_key(recipient, nid))
        key = notification_key(recipient, ref.sequence) if ref else ""
        kept = state.notifications.get(key) if ref else None
        if kept is None or kept.acknowledged:
            continue
        changed = N.Notification()
        changed.CopyFrom(kept)
        changed.acknowledged = True
        state.notifications[key] = changed
        marked += 1
    inbox = state.inboxes.get(recipient)
    if inbox is not None and marked:
        state.inboxes[recipient] = _with_unread(inbox, max(0, inbox.unread - marked))


def _delivery_ended(state, event) -> None:
    key = notification_key(event.recipient, event.sequence)
    pending = pending_key(event.recipient, event.sequence, event.subscription_id)
    if pending in state.pending:
        del state.pending[pending]
    kept = state.notifications.get(key)
    if kept is None:
        return
    changed = N.Notification()
    changed.CopyFrom(kept)
    delivered = isinstance(event, N.NotificationDelivered)
    for hook in changed.webhooks:
        if hook.subscription_id == event.subscription_id:
            hook.state = N.DELIVERY_STATE_DELIVERED if delivered else N.DELIVERY_STATE_FAILED
            hook.attempts = event.attempts
            hook.last_error = "" if delivered else event.last_error
    state.notifications[key] = changed
