"""`ipcoord notifications watch|inbox`: follow a recipient's stream, read its inbox."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import grpc
import typer
from rich.markup import escape

from ipcoord.cli.common import (
    Failure,
    JsonOption,
    connection,
    console,
    errors,
    print_json,
    reported,
    rows_table,
)
from ipcoord.v1 import notifications_pb2 as N

app = typer.Typer(help="A recipient's notifications.", no_args_is_help=True)

RecipientArgument = Annotated[str, typer.Argument(help="A bureau id, or a right holder's USCC.")]
# A lost connection is retried this often before giving up (a restart, a rebalance).
RECONNECTS = 30


def default_cursor_file(recipient: str) -> Path:
    return Path.home() / ".cache" / "ipcoord" / f"cursor-{recipient}"


def read_cursor(path: Path) -> int:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return 0
    if not text.isdigit():
        raise Failure(f"{path} does not hold a cursor (a notification's sequence number)")
    return int(text)


def save_cursor(path: Path, cursor: int) -> None:
    # Written whole, then renamed: a watcher killed mid-write keeps the previous cursor.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(f"{cursor}\n")
    partial.replace(path)


@app.command("watch")
def watch(
    ctx: typer.Context,
    recipient: RecipientArgument,
    cursor_file: Annotated[
        Path | None,
        typer.Option(help="Where the last sequence seen is kept [default: ~/.cache/ipcoord/]."),
    ] = None,
    only_new: Annotated[
        bool, typer.Option(help="Start with what arrives from now on (ignores the cursor).")
    ] = False,
    count: Annotated[int, typer.Option(min=0, help="Stop after this many (0: never).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Follow RECIPIENT's notifications as they come; resume after the last one seen.

    Each notification printed (and flushed) is saved as the cursor, so the next watch, or this
    one after a lost connection, goes on after it: nothing twice, and nothing missed but what
    a reader that stopped early (`| head`) did not read of what was written."""
    path = cursor_file or default_cursor_file(recipient)
    with reported():
        services = connection(ctx).services()
    failures = seen = 0
    with reported(connection(ctx).named("notifications")), services:
        # From now on: after the newest one kept, so a reconnect resumes from there too.
        cursor = _newest(services, recipient) if only_new else read_cursor(path)
        while True:
            request = N.SubscribeRequest(recipient=recipient, after_cursor=cursor)
            try:
                # No deadline: the stream is open until the watcher stops.
                for notification in services.notifications.Subscribe(request, timeout=None):
                    failures = 0
                    _print_notification(notification, as_json)
                    cursor = notification.record.sequence
                    save_cursor(path, cursor)
                    seen += 1
                    if count and seen >= count:
                        return
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or failures >= RECONNECTS:
                    raise
                failures += 1
                errors.print(f"connection lost ({exc.details()}); resuming after #{cursor}")
                time.sleep(min(5.0, 0.5 * failures))


def _newest(services, recipient: str) -> int:
    request = N.ListNotificationsRequest(recipient=recipient)
    request.page.page_size = 1
    newest = services.notifications.ListNotifications(request).notifications
    return newest[0].record.sequence if newest else 0


def _print_notification(notification: N.Notification, as_json: bool) -> None:
    if as_json:
        print_json(notification)
        return
    record = notification.record
    console.print(
        f"[dim]{record.occurred_at.ToDatetime():%Y-%m-%d %H:%M:%S}[/] "
        f"#{record.sequence} [bold]{record.source_event_type}[/] {escape(record.subject_key)} "
        f"[dim]({escape(record.reason)})[/] {escape(record.summary)}",
        highlight=False,
        soft_wrap=True,  # one line each, whatever the width
    )
    console.file.flush()  # written before the cursor moves past it


@app.command("inbox")
def inbox(
    ctx: typer.Context,
    recipient: RecipientArgument,
    unread: Annotated[bool, typer.Option(help="Only those not acknowledged.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """RECIPIENT's inbox, newest first, with each webhook delivery's state."""
    request = N.ListNotificationsRequest(recipient=recipient, unread_only=unread)
    request.page.page_size = min(limit, 500)
    with reported(connection(ctx).named("notifications")), connection(ctx).services() as services:
        page = services.notifications.ListNotifications(request)
    shown = list(page.notifications)[:limit]
    if as_json:
        for notification in shown:
            print_json(notification)
        return
    console.print(
        rows_table(
            f"{recipient}: {len(shown)} notification(s)",
            ["#", "id", "event", "subject", "why", "read", "webhooks"],
            [
                [
                    n.record.sequence,
                    n.record.notification_id,
                    n.record.source_event_type,
                    n.record.subject_key,
                    n.record.reason,
                    "yes" if n.acknowledged else "",
                    ", ".join(
                        N.DeliveryState.Name(w.state).removeprefix("DELIVERY_STATE_").lower()
                        for w in n.webhooks
                    ),
                ]
                for n in shown
            ],
        )
    )


@app.command("ack")
def ack(
    ctx: typer.Context,
    recipient: RecipientArgument,
    notification_ids: Annotated[
        list[str], typer.Argument(help="The notifications' ids (notification_id).")
    ],
) -> None:
    """Mark RECIPIENT's notifications read (they leave `inbox --unread`)."""
    with reported():
        services = connection(ctx).services()
    request = N.AcknowledgeRequest(recipient=recipient, notification_ids=notification_ids)
    with reported(connection(ctx).named("notifications")), services:
        services.notifications.Acknowledge(request)
    console.print(f"{len(notification_ids)} notification(s) marked read", highlight=False)
