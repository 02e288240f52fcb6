"""A command as a service's own command topic carries it: the body inside the service's
command message (its ``oneof command``), in an envelope. A command made of a record (a relayed
fact, a route) takes an id derived from the record's (the ``n``-th command made of it), so made
again after a crash it is the same command, and the writer's journal takes it once."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.message import Message

from ipcoord.platform import codec
from ipcoord.platform.ids import derived_event_id


def command_envelope(
    wrapper: type[Message],
    body: Message,
    *,
    actor: str,
    key: str,
    cause: codec.Envelope | None = None,
    n: int = 0,
    at: datetime | None = None,
    event_id: str | None = None,
) -> codec.Envelope:
    """``at``: when it happened (default: the cause's time, else now); ``event_id``: a given
    id, for a command made of no record but still the same when made again."""
    wrapped = wrapper()
    field = next(
        f.name
        for f in wrapper.DESCRIPTOR.oneofs_by_name["command"].fields
        if f.message_type.full_name == body.DESCRIPTOR.full_name
    )
    getattr(wrapped, field).CopyFrom(body)
    return codec.envelope(
        wrapped,
        producer_bureau=actor,
        subject_key=key,
        occurred_at=at if at is not None else (codec.occurred_at(cause) if cause else None),
        event_id=derived_event_id(cause.event_id, n) if cause is not None else event_id,
        correlation_id=(cause.correlation_id or cause.event_id) if cause is not None else "",
        causation_id=cause.event_id if cause is not None else "",
    )
