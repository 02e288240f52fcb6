"""Faust app factory and the decoding loop every agent shares."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import faust
from aiokafka.errors import KafkaError
from faust.exceptions import PartitionsMismatch, ProducerSendError
from faust.types import EventT, StreamT

from ipcoord.platform import codec, faust_patches, kafka_client, metrics
from ipcoord.platform.continuity import ContinuityGuard, SkippedRecords
from ipcoord.platform.deadletter import DeadLetterSink, dead_letter
from ipcoord.platform.failstop import fail_stop
from ipcoord.platform.settings import Settings
from ipcoord.platform.topics import DEADLETTER, TopicSpec, full_name

log = logging.getLogger(__name__)


def create_app(service: str, settings: Settings, **overrides: object) -> faust.App:
    """One Faust app per service process; the consumer group is the app id."""
    faust_patches.apply()  # records queued during recovery's seek are not dropped
    group = f"{settings.topic_prefix}ipcoord-{service}"
    options: dict[str, object] = {
        "broker": [f"kafka://{s}" for s in settings.bootstrap_servers],
        "store": settings.store,
        "datadir": str(settings.data_dir / service),
        "processing_guarantee": settings.processing_guarantee.value,
        # Every topic is serialised explicitly (protobuf bytes); never JSON by accident.
        "key_serializer": "raw",
        "value_serializer": "raw",
        # The gRPC server is the service's interface; Faust's web server is not exposed.
        "web_enabled": False,
        # Leader election is unused; it would only add one more internal topic.
        "topic_disable_leader": True,
        # Every topic, table changelogs included, is created up front from the registry
        # (`ipcoord topics create`, or Strimzi's KafkaTopics; ipcoord.topology), and the start-up
        # check (platform/kafka_access.py) names any that is missing. Faust would otherwise
        # send CreateTopics for each changelog at every start, which needs the Create ACL.
        "topic_allow_declare": False,
        "broker_commit_every": 100,
        "broker_commit_interval": 1.0,
        # Tests and operators start consumers after the data exists: read from the beginning.
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        # Static membership (KIP-345): a replica restarted after a crash rejoins as itself and
        # gets its partitions back at once, instead of two rebalances around a dead member. In
        # the fault test, records fetched around such rebalances were dropped by Faust's fetch
        # loop and their offsets counted as done (platform/continuity.py catches that).
        "consumer_group_instance_id": f"{group}-{settings.replica_id}",
        # A static member's partitions wait this long for it after a crash before another
        # replica takes them (Faust's default is 60 s); heartbeats every 3 s.
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 3.0,
        "table_standby_replicas": settings.table_standby_replicas,
    }
    context = kafka_client.ssl_context(settings)
    if context is not None:
        options["broker_credentials"] = faust.SSLCredentials(context)
    options.update(overrides)
    (settings.data_dir / service).mkdir(parents=True, exist_ok=True)
    return faust.App(group, **options)


def envelope_topic(app: faust.App, spec: TopicSpec, settings: Settings) -> faust.TopicT:
    return app.topic(
        full_name(spec, settings.topic_prefix),
        key_type=bytes,
        value_type=bytes,
        partitions=spec.partitions,
        internal=False,
    )


def dead_letter_sink(app: faust.App, settings: Settings, service: str) -> DeadLetterSink:
    topic = envelope_topic(app, DEADLETTER, settings)

    async def send(key: bytes | None, value: bytes) -> object:
        # Wait for the broker's ack: the source offset is committed only after the dead letter
        # is safely written, so a poison message is never lost along with its reason.
        fut = await topic.send(key=key, value=value)
        return await fut

    return DeadLetterSink(send, service=service)


# Failures of the broker or of publishing, never of the record itself.
_BROKER_ERRORS = (KafkaError, ProducerSendError)

EnvelopeHandler = Callable[[codec.Envelope, EventT], Awaitable[None]]


async def consume_envelopes(
    stream: StreamT,
    sink: DeadLetterSink,
    handle: EnvelopeHandler,
    *,
    service: str,
    max_bytes: int,
    continuity: ContinuityGuard | None = None,
) -> None:
    """Decode every record and hand it to ``handle``. A record that cannot be decoded, that
    ``handle`` refuses with InvalidEnvelope, or that makes ``handle`` fail, goes to the
    dead-letter topic with the reason, and the stream goes on: one poison record never stops
    a consumer. A broker error ends the process uncommitted: it is not the record's fault.
    ``continuity``: for a single writer, which must see every record of its partitions (the
    undecodable ones included), in order."""
    try:
        async for event in stream.events():
            if continuity is not None:
                message = event.message
                try:
                    await continuity.check(message.topic, message.partition, message.offset)
                except SkippedRecords as skipped:
                    fail_stop(skipped)  # before this record is acknowledged: nothing past it
            await _consume_one(event, sink, handle, service=service, max_bytes=max_bytes)
    except asyncio.CancelledError:
        raise  # shutdown
    except Exception as exc:
        # Even a dead letter could not be written: the broker is failing us. A crashed Faust
        # agent would leave the process up and its partition unread, so stop the process.
        fail_stop(exc)


async def _consume_one(
    event: EventT, sink: DeadLetterSink, handle: EnvelopeHandler, *, service: str, max_bytes: int
) -> None:
    message = event.message
    started = time.perf_counter()
    try:
        env = codec.decode(event.value, max_bytes=max_bytes)
        metrics.EVENTS_CONSUMED.labels(service, message.topic, env.event_type).inc()
        await handle(env, event)
    except codec.InvalidEnvelope as exc:
        await _dead_letter(sink, event, exc.reason, exc.error_class, service)
    except _BROKER_ERRORS as exc:
        # The broker, not the record: exit uncommitted so the record is handled again.
        fail_stop(exc)
    except PartitionsMismatch as exc:
        # Topics created with other partition counts than the registry's: every write would
        # fail the same way, so stop rather than dead-letter each record.
        log.critical("a table's changelog and its source topic differ in partitions: %s", exc)
        fail_stop(exc)
    except Exception as exc:
        # A bug met by one record must not stop every record behind it: the record goes to
        # the dead-letter topic with the error, the stack trace to the log.
        log.exception("record handler failed", extra={"offset": message.offset})
        await _dead_letter(sink, event, f"{type(exc).__name__}: {exc}", "HandlerError", service)
    metrics.EVENT_SECONDS.labels(service, message.topic).observe(time.perf_counter() - started)


async def _dead_letter(
    sink: DeadLetterSink, event: EventT, reason: str, error_class: str, service: str
) -> None:
    message = event.message
    await sink.publish(
        dead_letter(
            value=event.value,
            key=event.key,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            reason=reason,
            error_class=error_class,
            rejected_by=service,
        )
    )
