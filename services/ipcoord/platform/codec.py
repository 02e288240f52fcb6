"""Envelope <-> bytes, and the Kafka headers that travel with every record.

Headers let routers and operators see what a record is without decoding it:
  ipcoord-event-type   fully-qualified body message name, e.g. ipcoord.v1.CaseFiled
  content-type         application/protobuf (the value is an ipcoord.v1.Envelope)
  traceparent          W3C trace context
and the CloudEvents Kafka binding's binary mode (spec 1.0), so that a consumer written with any
CloudEvents SDK reads every envelope as an event:
  ce_specversion 1.0, ce_id the event id, ce_source the producing bureau, ce_type the body
  message name, ce_time when it happened (RFC 3339), ce_subject the subject key,
  ce_dataschema the message the data decodes as (urn:ipcoord:proto:ipcoord.v1.Envelope).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from google.protobuf.message import DecodeError, Message

from ipcoord.platform.ids import new_event_id, new_traceparent
from ipcoord.v1 import envelope_pb2

Envelope = envelope_pb2.Envelope
CONTENT_TYPE = "application/protobuf"
DATA_SCHEMA = f"urn:ipcoord:proto:{Envelope.DESCRIPTOR.full_name}"
HEADER_EVENT_TYPE = "ipcoord-event-type"
HEADER_CONTENT_TYPE = "content-type"
HEADER_TRACEPARENT = "traceparent"

# body message full name -> name of its field in Envelope.body
_BODY_FIELDS: dict[str, str] = {
    f.message_type.full_name: f.name for f in Envelope.DESCRIPTOR.oneofs_by_name["body"].fields
}


class InvalidEnvelope(ValueError):
    """A record that is not a usable Envelope. ``error_class`` goes to the dead-letter record."""

    def __init__(self, reason: str, error_class: str = "InvalidEnvelope") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_class = error_class


def event_type_of(body: Message) -> str:
    return body.DESCRIPTOR.full_name


def envelope(
    body: Message,
    *,
    producer_bureau: str,
    subject_key: str,
    correlation_id: str = "",
    causation_id: str = "",
    occurred_at: datetime | None = None,
    event_id: str | None = None,
    schema_version: int = 1,
) -> Envelope:
    """Wrap a body message; the body's type picks the oneof case, so it cannot disagree."""
    type_name = event_type_of(body)
    field = _BODY_FIELDS.get(type_name)
    if field is None:
        raise TypeError(f"{type_name} is not an Envelope body type")
    env = Envelope(
        event_id=event_id or new_event_id(),
        event_type=type_name,
        schema_version=schema_version,
        producer_bureau=producer_bureau,
        subject_key=subject_key,
        correlation_id=correlation_id,
        causation_id=causation_id,
    )
    env.occurred_at.FromDatetime(occurred_at or datetime.now(UTC))
    getattr(env, field).CopyFrom(body)
    if not env.correlation_id:
        env.correlation_id = env.event_id
    return env


def body_of(env: Envelope) -> Message:
    case = env.WhichOneof("body")
    if case is None:
        raise InvalidEnvelope("envelope has no body", "MissingBody")
    return getattr(env, case)


def occurred_at(env: Envelope) -> datetime:
    return env.occurred_at.ToDatetime(tzinfo=UTC)


def encode(env: Envelope) -> bytes:
    # Deterministic: the same envelope always gives the same bytes (signing will rely on it).
    return env.SerializeToString(deterministic=True)


def decode(value: bytes | None, *, max_bytes: int | None = None) -> Envelope:
    """Parse and check an envelope; raises InvalidEnvelope with a reason a sender understands."""
    if value is None:
        raise InvalidEnvelope(
            "record has no value (tombstone) where an Envelope was expected", "EmptyRecord"
        )
    if max_bytes is not None and len(value) > max_bytes:
        raise InvalidEnvelope(
            f"record value is {len(value)} bytes, over the {max_bytes}-byte limit", "Oversized"
        )
    env = Envelope()
    try:
        env.ParseFromString(value)
    except DecodeError as exc:
        raise InvalidEnvelope(
            f"value is not a valid ipcoord.v1.Envelope: {exc}", "DecodeError"
        ) from exc
    check(env)
    return env


def check(env: Envelope) -> None:
    """The invariants every envelope on the log must meet."""
    if not env.event_id:
        raise InvalidEnvelope("envelope.event_id is empty", "MissingField")
    if not env.producer_bureau:
        raise InvalidEnvelope("envelope.producer_bureau is empty", "MissingField")
    case = env.WhichOneof("body")
    if case is None:
        raise InvalidEnvelope(
            "envelope has no body (or one this consumer does not know: newer schema?)",
            "MissingBody",
        )
    actual = getattr(env, case).DESCRIPTOR.full_name
    if env.event_type != actual:
        raise InvalidEnvelope(
            f"envelope.event_type is {env.event_type!r} but the body is {actual}",
            "EventTypeMismatch",
        )


def headers(env: Envelope, *, parent_traceparent: str | None = None) -> list[tuple[str, bytes]]:
    subject = [("ce_subject", env.subject_key.encode())] if env.subject_key else []
    return [
        (HEADER_EVENT_TYPE, env.event_type.encode()),
        (HEADER_CONTENT_TYPE, CONTENT_TYPE.encode()),
        (HEADER_TRACEPARENT, new_traceparent(parent_traceparent).encode()),
        ("ce_specversion", b"1.0"),
        ("ce_id", env.event_id.encode()),
        ("ce_source", env.producer_bureau.encode()),
        ("ce_type", env.event_type.encode()),
        ("ce_time", env.occurred_at.ToJsonString().encode()),
        *subject,  # optional in CloudEvents, and never empty when given
        ("ce_dataschema", DATA_SCHEMA.encode()),
    ]


def header(headers: Iterable[tuple[str, bytes]] | dict | None, name: str) -> str | None:
    """One header's value as text, from a list of pairs (kafka clients) or a dict (Faust)."""
    if not headers:
        return None
    pairs: Sequence = list(headers.items()) if isinstance(headers, dict) else list(headers)
    for key, value in pairs:
        if key == name and value is not None:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None
