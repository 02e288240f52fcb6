"""The notifications service's state rebuilt from the log alone, to compare with a live
replica's (`ipcoord replay notifications` does).

- The router's directory is learnt from the facts it routes (ipcoord.cases.v1 and
  ipcoord.credit.v1), its subscriptions from SubscriptionChanged on ipcoord.notifications.v1
  (which the recipient's writer also keeps: the removed ones' webhooks stop).
- Each recipient's notifications, acknowledgements and webhook outcomes are the facts on
  ipcoord.notifications.v1, in order per recipient (one key, one partition).
Facts repeated after a crash carry the same event id and count once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ipcoord.notifications.domain import inbox, router, routing
from ipcoord.notifications.state import RecipientState, RouterState
from ipcoord.notifications.state_codecs import RECIPIENT_CODECS, ROUTER_CODECS
from ipcoord.platform import codec
from ipcoord.platform.topics import (
    CASES,
    CREDIT,
    NOTIFICATIONS,
    NOTIFICATIONS_COMMANDS,
    NOTIFICATIONS_ROUTING,
    Service,
)
from ipcoord.v1 import notifications_pb2 as N


def rebuilt(
    routed: Iterable[codec.Envelope], recorded: Iterable[codec.Envelope]
) -> tuple[RouterState, RecipientState]:
    """``routed``: the facts of ipcoord.cases.v1 and ipcoord.credit.v1; ``recorded``: those
    of ipcoord.notifications.v1, in the order each partition holds them."""
    router_state, recipients = RouterState(), RecipientState()
    directory = router.directory_of(router_state)
    for env in _once(routed):
        routing.learn(directory, codec.body_of(env))
    for env in _once(recorded):
        body = codec.body_of(env)
        if isinstance(body, N.SubscriptionChanged):
            router.evolve(router_state, body)
            inbox.evolve(recipients, body, codec.occurred_at(env))
        elif not isinstance(body, N.NotificationCommandRejected):
            inbox.evolve(recipients, body, codec.occurred_at(env))
    return router_state, recipients


SERVICE = Service.NOTIFICATIONS
SOURCES = (CASES, CREDIT, NOTIFICATIONS)
STORED = {**ROUTER_CODECS, **RECIPIENT_CODECS}
# Each table's partitions: the router's topic for its tables, the recipients' commands topic
# for theirs (main.py).
TABLE_PARTITIONS = {name: NOTIFICATIONS_ROUTING.partitions for name in ROUTER_CODECS} | {
    name: NOTIFICATIONS_COMMANDS.partitions for name in RECIPIENT_CODECS
}


def rebuilt_tables(logs: Mapping[str, list[codec.Envelope]]) -> dict[str, Mapping]:
    router_state, recipients = rebuilt(
        logs[CASES.name] + logs[CREDIT.name], logs[NOTIFICATIONS.name]
    )
    tables = {name: getattr(router_state, name) for name in ROUTER_CODECS}
    return tables | {name: getattr(recipients, name) for name in RECIPIENT_CODECS}


def _once(envelopes: Iterable[codec.Envelope]) -> Iterable[codec.Envelope]:
    seen: set[str] = set()
    for env in envelopes:
        if env.event_id not in seen:
            seen.add(env.event_id)
            yield env
