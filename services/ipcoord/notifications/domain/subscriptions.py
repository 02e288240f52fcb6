"""Subscriptions: what makes one valid, and where the router files it so that a fact is
matched only against the subscriptions that can match it.

A subscription is filed under one dimension of its filter, the most selective it gives: its
case ids, else its action ids, else its entities, else its event types, else under "*" (it
matches every fact). A fact looks under its own case, actions, entities and type, and "*";
``routing.matches`` then checks the whole filter."""

from __future__ import annotations

from collections.abc import Iterator

from ipcoord.notifications.domain.routing import About
from ipcoord.platform.errors import InvalidInput, Violation
from ipcoord.v1 import notifications_pb2 as N

FILTER_VALUES_MAX = 100  # per filter list
VALUE_MAX = 200  # characters per filter value
# A subscription's size: the 50 a recipient may have stay far below a Kafka record together.
SUBSCRIPTION_MAX_BYTES = 16_000
MATCH_ALL = "*"


def filed_under(subscription: N.Subscription) -> list[str]:
    """The index keys of a subscription."""
    f = subscription.filter
    for dimension, values in (
        ("case", f.case_ids),
        ("action", f.action_ids),
        ("entity", f.entities),
        ("type", f.event_types),
    ):
        if values:
            return [f"{dimension}:{v}" for v in dict.fromkeys(values)]
    return [MATCH_ALL]


def looked_up(about: About) -> Iterator[str]:
    """The index keys a fact's candidate subscriptions are filed under."""
    if about.case_id:
        yield f"case:{about.case_id}"
    for action_id in about.action_ids:
        yield f"action:{action_id}"
    for entity in about.entities:
        yield f"entity:{entity}"
    yield f"type:{about.event_type}"
    yield MATCH_ALL


def filter_problems(
    flt: N.SubscriptionFilter, known_event_types: frozenset[str]
) -> list[Violation]:
    """Why a filter cannot be kept (empty: it can)."""
    problems = []
    if flt.ByteSize() > SUBSCRIPTION_MAX_BYTES:
        problems.append(
            Violation("filter", f"{flt.ByteSize()} bytes; at most {SUBSCRIPTION_MAX_BYTES}")
        )
    for name in ("event_types", "case_ids", "action_ids", "entities"):
        values = list(getattr(flt, name))
        if len(values) > FILTER_VALUES_MAX:
            problems.append(Violation(f"filter.{name}", f"at most {FILTER_VALUES_MAX} values"))
        for value in values:
            if not value.strip() or len(value) > VALUE_MAX:
                problems.append(
                    Violation(f"filter.{name}", f"values are 1 to {VALUE_MAX} characters")
                )
                break
    unknown = sorted(set(flt.event_types) - known_event_types)
    if unknown:
        problems.append(
            Violation(
                "filter.event_types",
                f"unknown event type(s) {', '.join(repr(t[:60]) for t in unknown[:5])}: "
                "give message names such as 'CaseFiled'",
            )
        )
    return problems


def check_channels(subscription: N.Subscription) -> None:
    """Every notification is in the inbox and on the stream; WEBHOOK also POSTs it."""
    channels = set(subscription.channels)
    known = {N.CHANNEL_STREAM, N.CHANNEL_INBOX, N.CHANNEL_WEBHOOK}
    if not channels <= known:
        raise InvalidInput(
            [Violation("channels", "channels are CHANNEL_STREAM, CHANNEL_INBOX, CHANNEL_WEBHOOK")]
        )
    wants_webhook = N.CHANNEL_WEBHOOK in channels
    if wants_webhook != bool(subscription.webhook_url):
        raise InvalidInput(
            [Violation("webhook_url", "give a webhook_url exactly when channels has WEBHOOK")]
        )
