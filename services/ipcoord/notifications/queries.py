"""Reads of the notifications service's tables for lookups and streams: a recipient's inbox
page, its notifications after a cursor, its subscriptions. No writes."""

from __future__ import annotations

from collections.abc import Iterator

from ipcoord.notifications.state import (
    INBOX_KEPT,
    RecipientState,
    RouterState,
    notification_key,
)
from ipcoord.platform.errors import InvalidInput, Violation
from ipcoord.v1 import notifications_pb2 as N

PAGE_DEFAULT, PAGE_MAX = 50, 500


class CursorTooOld(Exception):
    """The notifications after the cursor are no longer all kept, or the cursor names one
    not recorded yet."""


def last_sequence(state: RecipientState, recipient: str) -> int:
    inbox = state.inboxes.get(recipient)
    return inbox.last_sequence if inbox else 0


def oldest_kept(state: RecipientState, recipient: str) -> int:
    return max(1, last_sequence(state, recipient) - INBOX_KEPT + 1)


def after(
    state: RecipientState, recipient: str, cursor: int, up_to: int
) -> Iterator[N.Notification]:
    """The recipient's notifications numbered cursor+1 .. up_to, in order, gap-free (cursor 0:
    from the oldest kept)."""
    if cursor == 0:
        cursor = oldest_kept(state, recipient) - 1
    if cursor + 1 < oldest_kept(state, recipient) and cursor < up_to:
        raise CursorTooOld(
            f"notifications after {cursor} are no longer all kept (the oldest kept is "
            f"{oldest_kept(state, recipient)}); read older ones from ipcoord.notifications.v1"
        )
    for sequence in range(cursor + 1, up_to + 1):
        kept = state.notifications.get(notification_key(recipient, sequence))
        if kept is None:
            raise CursorTooOld(f"notification {sequence} of {recipient} is no longer kept")
        yield kept


def inbox_page(
    state: RecipientState, request: N.ListNotificationsRequest, recipient: str
) -> N.ListNotificationsResponse:
    """Newest first; the page token is the sequence to continue below."""
    size = request.page.page_size or PAGE_DEFAULT
    if size > PAGE_MAX:
        raise InvalidInput([Violation("page.page_size", f"at most {PAGE_MAX}")])
    last = last_sequence(state, recipient)
    start = last
    if request.page.page_token:
        token = request.page.page_token
        if not token.isdigit() or len(token) > 20:
            raise InvalidInput([Violation("page.page_token", "not a token this service gave")])
        start = min(int(token), last)
    page = N.ListNotificationsResponse()
    floor = oldest_kept(state, recipient)
    sequence = start
    while sequence >= floor and len(page.notifications) < size:
        kept = state.notifications.get(notification_key(recipient, sequence))
        if kept is not None and not (request.unread_only and kept.acknowledged):
            page.notifications.append(kept)
        sequence -= 1
    if sequence >= floor:
        page.next_page_token = str(sequence)
    return page


def subscriptions_of(state: RouterState, recipient: str) -> N.ListSubscriptionsResponse:
    kept = state.subscriptions_of.get(recipient)
    return N.ListSubscriptionsResponse(subscriptions=kept.subscriptions if kept else [])
