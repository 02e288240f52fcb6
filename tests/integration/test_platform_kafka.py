"""The platform against a real broker: codec round trip through Faust, dead-lettering."""

from __future__ import annotations

import asyncio

from ipcoord.platform import codec
from ipcoord.platform.faust_app import (
    consume_envelopes,
    create_app,
    dead_letter_sink,
    envelope_topic,
)
from ipcoord.platform.runner import ServiceHandle
from ipcoord.platform.topics import CASES, DEADLETTER, full_name
from ipcoord.v1 import envelope_pb2, intake_pb2
from kafka import KafkaConsumer, KafkaProducer


def _producer(settings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True
    )


def _read_all(settings, spec, expected: int, timeout_s: float = 20.0) -> list:
    consumer = KafkaConsumer(
        full_name(spec, settings.topic_prefix),
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(timeout_s * 1000),
        enable_auto_commit=False,
    )
    records = []
    try:
        for record in consumer:
            records.append(record)
            if len(records) >= expected:
                break
    finally:
        consumer.close()
    return records


async def test_envelope_from_kafka_python_reaches_faust_agent_equal_and_garbage_is_dead_lettered(
    settings,
):
    app = create_app("probe", settings)
    sink = dead_letter_sink(app, settings, "probe")
    received: asyncio.Queue = asyncio.Queue()

    async def remember(env, _event):
        if env.subject_key == "boom":
            raise ValueError("handler bug")
        await received.put(env)

    @app.agent(envelope_topic(app, CASES, settings))
    async def probe(stream):
        await consume_envelopes(stream, sink, remember, service="probe", max_bytes=10_000)

    handle = ServiceHandle(app)
    await handle.start()
    try:
        first = codec.envelope(
            intake_pb2.CaseAccepted(case_id="case-1", by_bureau="ipb-sz"),
            producer_bureau="ipb-sz",
            subject_key="case-1",
        )
        second = codec.envelope(
            intake_pb2.CaseClosed(case_id="case-1", by_bureau="ipb-sz", reason="done"),
            producer_bureau="ipb-sz",
            subject_key="case-1",
        )
        topic = full_name(CASES, settings.topic_prefix)
        producer = _producer(settings)
        producer.send(topic, key=b"case-1", value=codec.encode(first), headers=codec.headers(first))
        producer.send(topic, key=b"case-1", value=b"\xff\xfe not protobuf at all")
        boom = codec.envelope(
            intake_pb2.CaseAccepted(case_id="boom"), producer_bureau="ipb-sz", subject_key="boom"
        )
        producer.send(topic, key=b"case-1", value=codec.encode(boom))
        producer.send(
            topic, key=b"case-1", value=codec.encode(second), headers=codec.headers(second)
        )
        producer.flush()
        producer.close()

        got_first = await asyncio.wait_for(received.get(), 30)
        got_second = await asyncio.wait_for(received.get(), 30)
        assert got_first == first
        assert got_second == second  # the agent kept consuming past the poison record
    finally:
        await handle.stop()

    record, failed = await asyncio.to_thread(_read_all, settings, DEADLETTER, 2)
    failure = envelope_pb2.DeadLetter.FromString(failed.value)
    assert failure.error_class == "HandlerError"
    assert failure.reason == "ValueError: handler bug"
    assert failure.original_event_id == boom.event_id and failure.source_offset == 2
    letter = envelope_pb2.DeadLetter.FromString(record.value)
    assert letter.original_value == b"\xff\xfe not protobuf at all"
    assert letter.source_topic == full_name(CASES, settings.topic_prefix)
    assert letter.source_offset == 1
    assert letter.error_class == "DecodeError"
    assert "not a valid ipcoord.v1.Envelope" in letter.reason
    assert letter.rejected_by == "probe"
    assert record.key == b"case-1"


async def test_transactions_kafka_python_producer_and_read_committed(settings):
    """The broker's transactions work with the bureau-side client: a kafka-python
    transactional producer aborts one transaction and commits another, and a read_committed
    consumer sees only the committed record. (ipcoord's services run at_least_once with
    deterministic event ids instead: Faust's transactions cannot cover their outputs, see
    docs/intake.md.)"""
    committed = codec.envelope(
        intake_pb2.CaseAccepted(case_id="c-1"), producer_bureau="ipb-sz", subject_key="c-1"
    )
    aborted = codec.envelope(
        intake_pb2.CaseAccepted(case_id="c-2"), producer_bureau="ipb-sz", subject_key="c-2"
    )
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        transactional_id=f"{settings.topic_prefix}bureau-system",
    )
    producer.init_transactions()
    topic = full_name(CASES, settings.topic_prefix)
    producer.begin_transaction()
    producer.send(topic, key=b"c-2", value=codec.encode(aborted))
    producer.abort_transaction()
    producer.begin_transaction()
    producer.send(topic, key=b"c-1", value=codec.encode(committed))
    producer.commit_transaction()
    producer.close()

    def read_committed() -> list:
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=settings.bootstrap_servers,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            consumer_timeout_ms=3000,
        )
        try:
            return [codec.decode(r.value) for r in consumer]
        finally:
            consumer.close()

    assert await asyncio.to_thread(read_committed) == [committed]
