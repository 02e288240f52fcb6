"""Reading and writing the shared log from tests, as a bureau system would (kafka-python)."""

from __future__ import annotations

import asyncio
import inspect
import time

from ipcoord.platform import codec
from ipcoord.platform.topics import TopicSpec, full_name
from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def produce(settings, spec: TopicSpec, items: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True
    )
    for key, value in items:
        producer.send(full_name(spec, settings.topic_prefix), key=key, value=value)
    producer.flush()
    producer.close()


def produce_envelopes(settings, spec: TopicSpec, envelopes) -> None:
    produce(settings, spec, [(e.subject_key.encode(), codec.encode(e)) for e in envelopes])


def read_topic(settings, spec: TopicSpec, timeout_s: float = 3.0) -> list:
    """Every record on the topic now (waits until nothing new arrives for ``timeout_s``)."""
    consumer = KafkaConsumer(
        full_name(spec, settings.topic_prefix),
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(timeout_s * 1000),
    )
    try:
        return list(consumer)
    finally:
        consumer.close()


def read_envelopes(settings, spec: TopicSpec, timeout_s: float = 3.0) -> list[codec.Envelope]:
    return [codec.decode(r.value) for r in read_topic(settings, spec, timeout_s)]


async def eventually(predicate, timeout_s: float = 30.0, interval_s: float = 0.2):
    """Wait until ``predicate()`` (or what it returns, if awaitable) is truthy; returns it."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(interval_s)


def records_published(settings, spec: TopicSpec) -> int:
    """How many records a topic holds (the sum of its partitions' end offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    try:
        topic = full_name(spec, settings.topic_prefix)
        parts = [TopicPartition(topic, p) for p in range(spec.partitions)]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()
