"""Reading a topic of the shared log outside the services (kafka-python, no consumer group:
nothing is committed, nobody's position moves): what `ipcoord tail`, `dead-letters` and
`replay` read, and what any tool can decode a record with."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, symbol_database
from google.protobuf.message import DecodeError, Message
from kafka import KafkaConsumer, TopicPartition

from ipcoord.platform import codec, kafka_client
from ipcoord.platform.settings import Settings
from ipcoord.platform.topics import TOPICS, TopicSpec, full_name
from ipcoord.v1 import (
    envelope_pb2,  # noqa: F401  (registers the value messages)
    replies_pb2,  # noqa: F401
)

# How long a poll waits before it checks whether the end was reached (or the follower stops).
_POLL_MS = 500


@dataclass(frozen=True)
class Position:
    """Where to start reading each partition."""

    from_beginning: bool = False
    # Without from_beginning: this many records before the end of each partition.
    last: int = 0


def short_name(spec: TopicSpec) -> str:
    """ "cases" for ipcoord.cases.v1, "credit.commands" for ipcoord.credit.commands.v1."""
    return spec.name.removeprefix("ipcoord.").rsplit(".v", 1)[0]


def topic_spec(name: str) -> TopicSpec:
    """A registry topic by its name, its short name ("credit", "credit.commands") or a unique
    part of its name ("deadletter")."""
    exact = [spec for spec in TOPICS if name in (spec.name, short_name(spec))]
    matches = exact or [spec for spec in TOPICS if name in spec.name]
    if len(matches) != 1:
        known = ", ".join(short_name(spec) for spec in TOPICS)
        which = "no topic" if not matches else "more than one topic"
        raise ValueError(f"{name!r} names {which} of the registry; known: {known}")
    return matches[0]


def records(
    settings: Settings, spec: TopicSpec, position: Position = Position(), *, follow: bool = False
) -> Iterator[Any]:
    """The topic's records from ``position``: to the end as it was when reading began, or on
    and on with ``follow``. Within a partition in order; partitions interleave."""
    name = full_name(spec, settings.topic_prefix)
    consumer = KafkaConsumer(
        **kafka_client.connection(settings),
        enable_auto_commit=False,
        # What a service's consumers read: never a record of an aborted transaction.
        isolation_level="read_committed",
        request_timeout_ms=15_000,
        # An unreachable broker fails after this long, not kafka-python's default 30 s.
        bootstrap_timeout_ms=10_000,
    )
    try:
        partitions = consumer.partitions_for_topic(name)
        if not partitions:
            raise ValueError(f"topic {name} does not exist on the broker (`ipcoord topics create`)")
        assigned = [TopicPartition(name, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        ends = consumer.end_offsets(assigned)
        starts = consumer.beginning_offsets(assigned)
        for tp in assigned:
            if position.from_beginning:
                consumer.seek(tp, starts[tp])
            else:
                consumer.seek(tp, max(starts[tp], ends[tp] - position.last))
        while True:
            batch = consumer.poll(timeout_ms=_POLL_MS)
            for tp in assigned:
                yield from batch.get(tp, ())
            if not follow and all(consumer.position(tp) >= ends[tp] for tp in assigned):
                return
    finally:
        consumer.close()


def envelopes(settings: Settings, spec: TopicSpec) -> list[codec.Envelope]:
    """Every envelope on a topic now, in order per partition (what a replay reads)."""
    return [codec.decode(r.value) for r in records(settings, spec, Position(from_beginning=True))]


def decoded(spec: TopicSpec, record: Any) -> dict[str, Any]:
    """A record as JSON-ready data: its place, key, and value by the registry's message type
    (an envelope with its body; a dead letter; a reply); undecodable values say why."""
    out: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key.decode("utf-8", "replace") if record.key else None,
    }
    if record.value is None:
        return out | {"tombstone": True}
    try:
        value_type = spec.value.split()[0]  # "ipcoord.v1.Envelope (what it carries)"
        if value_type == "ipcoord.v1.Envelope":
            return out | envelope_fields(codec.decode(record.value))
        message = symbol_database.Default().GetSymbol(value_type)()
        message.ParseFromString(record.value)
        return out | {"value": as_dict(message)}
    except (codec.InvalidEnvelope, DecodeError, KeyError) as exc:
        return out | {"undecodable": str(exc), "size": len(record.value)}


def envelope_fields(env: codec.Envelope) -> dict[str, Any]:
    return {
        "event_id": env.event_id,
        "event_type": env.event_type,
        "producer_bureau": env.producer_bureau,
        "subject": env.subject_key,
        "occurred_at": codec.occurred_at(env).isoformat(),
        "body": as_dict(codec.body_of(env)),
    }


def as_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
