"""The router's rules: decide(command, state) -> facts; evolve(state, fact). No I/O.

A routed fact teaches the directory who takes part in what (routing.learn) and names each
recipient once (routing.routes) with a notification id that depends only on the fact and the
recipient: routed again (its input redelivered), it is the same notification, and the
recipient's writer records it once. Subscriptions are kept per recipient, bounded."""

from __future__ import annotations

import hashlib
from collections import ChainMap
from collections.abc import Callable

from google.protobuf.message import Message

from ipcoord.notifications.domain import routing, subscriptions
from ipcoord.notifications.domain.summary import summary_of
from ipcoord.notifications.state import SUBSCRIPTIONS_PER_RECIPIENT, RouterState
from ipcoord.platform import codec
from ipcoord.platform.errors import LimitReached, NotFound
from ipcoord.v1 import notifications_pb2 as N
from ipcoord.v1 import notifications_state_pb2 as R


def notification_id(source_event_id: str, recipient: str) -> str:
    digest = hashlib.sha256(f"{source_event_id}\n{recipient}".encode()).hexdigest()
    return f"N-{digest[:32]}"


def directory_of(state: RouterState) -> routing.Directory:
    return routing.Directory(state.cases, state.actions, state.listings)


def decide(body: Message, state: RouterState) -> list[Message]:
    match body:
        case N.RouteFact():
            return [route_fact(body.fact, state)]
        case N.Subscription():
            return [put_subscription(body, state)]
        case N.DeleteSubscriptionRequest():
            return [delete_subscription(body, state)]
    raise TypeError(f"the router does not handle {type(body).__name__}")


def route_fact(fact: bytes, state: RouterState) -> N.FactRouted:
    env = codec.decode(fact)
    event = codec.body_of(env)
    # Learnt into a scratch layer first: the fact's own parties count (a case filed is told
    # to its bureau); evolve learns it for good.
    seen = routing.Directory(
        ChainMap({}, state.cases), ChainMap({}, state.actions), ChainMap({}, state.listings)
    )
    routing.learn(seen, event)
    about = routing.about_of(seen, event)
    found = routing.routes(seen, event, candidates(state, about))
    routed = N.FactRouted(fact=fact)
    summary = summary_of(event, env.subject_key)
    for route in found:
        note = routed.routes.add(
            notification_id=notification_id(env.event_id, route.recipient),
            recipient=route.recipient,
            source_event_id=env.event_id,
            source_event_type=type(event).__name__,
            subject_key=env.subject_key,
            summary=summary,
            reason=route.reason,
            webhooks=[N.WebhookTarget(subscription_id=s, url=u) for s, u in route.webhooks],
        )
        note.occurred_at.CopyFrom(env.occurred_at)
    return routed


def candidates(state: RouterState, about: routing.About) -> list[N.Subscription]:
    """The subscriptions filed where ``about`` looks, each once, in a stable order."""
    refs = dict.fromkeys(
        ref
        for key in subscriptions.looked_up(about)
        for ref in state.subscription_index.get(key, [])
    )
    found = []
    for ref in refs:
        recipient, _, subscription_id = ref.partition("/")
        kept = state.subscriptions_of.get(recipient)
        for subscription in kept.subscriptions if kept else ():
            if subscription.subscription_id == subscription_id:
                found.append(subscription)
    return found


def put_subscription(subscription: N.Subscription, state: RouterState) -> N.SubscriptionChanged:
    """A new subscription, or a change of one the recipient has (ids are the recipient's own:
    two recipients may use one id)."""
    known = _ref(subscription) in state.subscription_owner
    kept = state.subscriptions_of.get(subscription.recipient)
    count = len(kept.subscriptions) if kept else 0
    if not known and count >= SUBSCRIPTIONS_PER_RECIPIENT:
        raise LimitReached(
            f"{subscription.recipient} has {count} subscriptions, the most one recipient may "
            "have; delete one first"
        )
    kept_copy = N.Subscription()
    kept_copy.CopyFrom(subscription)
    kept_copy.webhook_secret = ""  # derived when needed, never stored (webhooks.py)
    return N.SubscriptionChanged(subscription=kept_copy)


def delete_subscription(
    request: N.DeleteSubscriptionRequest, state: RouterState
) -> N.SubscriptionChanged:
    ref = f"{request.recipient}/{request.subscription_id}"
    if ref not in state.subscription_owner:
        raise NotFound(f"no subscription {request.subscription_id[:100]!r} of {request.recipient}")
    kept = state.subscriptions_of[request.recipient]
    gone = next(s for s in kept.subscriptions if s.subscription_id == request.subscription_id)
    return N.SubscriptionChanged(subscription=gone, removed=True)


# ------------------------------------------------------------------------------ evolve


def evolve(state: RouterState, event: Message) -> None:
    match event:
        case N.FactRouted():
            routing.learn(directory_of(state), codec.body_of(codec.decode(event.fact)))
        case N.SubscriptionChanged():
            _change_subscription(state, event.subscription, removed=event.removed)
        case N.NotificationCommandRejected():
            pass
        case _:
            raise TypeError(f"the router does not apply {type(event).__name__}")


def _change_subscription(state: RouterState, subscription: N.Subscription, *, removed: bool):
    recipient, sid = subscription.recipient, subscription.subscription_id
    kept = R.RecipientSubscriptions()
    old = state.subscriptions_of.get(recipient)
    for existing in old.subscriptions if old else ():
        if existing.subscription_id == sid:
            _unfile(state, existing)
        else:
            kept.subscriptions.append(existing)
    if removed:
        state.subscription_owner.pop(_ref(subscription), None)
    else:
        kept.subscriptions.append(subscription)
        _file(state, subscription)
        state.subscription_owner[_ref(subscription)] = recipient
    if kept.subscriptions:
        state.subscriptions_of[recipient] = kept
    elif recipient in state.subscriptions_of:
        del state.subscriptions_of[recipient]


def _ref(subscription: N.Subscription) -> str:
    return f"{subscription.recipient}/{subscription.subscription_id}"


def _file(state: RouterState, subscription: N.Subscription) -> None:
    for key in subscriptions.filed_under(subscription):
        state.subscription_index[key] = [*state.subscription_index.get(key, []), _ref(subscription)]


def _unfile(state: RouterState, subscription: N.Subscription) -> None:
    for key in subscriptions.filed_under(subscription):
        left = [r for r in state.subscription_index.get(key, []) if r != _ref(subscription)]
        if left:
            state.subscription_index[key] = left
        elif key in state.subscription_index:
            del state.subscription_index[key]


def rebuild_indexes(state: RouterState, tables: Callable[[str], object], slice_size: int):
    """The subscription index and owners from the stored subscriptions; yields the count read
    every ``slice_size`` values (platform.processor's rebuild)."""
    index: dict[str, list[str]] = {}
    owners: dict[str, str] = {}
    read = 0
    for recipient, kept in tables("subscriptions_of").items():
        for subscription in kept.subscriptions:
            owners[_ref(subscription)] = recipient
            for key in subscriptions.filed_under(subscription):
                index.setdefault(key, []).append(_ref(subscription))
        read += 1
        if read % slice_size == 0:
            yield read
    for name, built in (("subscription_index", index), ("subscription_owner", owners)):
        target = tables(name)
        target.clear()
        target.update(built)
    yield read
