from __future__ import annotations

import uuid
from datetime import UTC

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from ipcoord.platform import codec
from ipcoord.platform.ids import new_event_id, new_traceparent, trace_id_of
from ipcoord.v1 import intake_pb2


def _accepted() -> codec.Envelope:
    return codec.envelope(
        intake_pb2.CaseAccepted(case_id="c1", by_bureau="ipb-sz"),
        producer_bureau="ipb-sz",
        subject_key="c1",
    )


def test_envelope_sets_type_body_and_ids():
    env = _accepted()
    assert env.event_type == "ipcoord.v1.CaseAccepted"
    assert env.WhichOneof("body") == "case_accepted"
    assert env.schema_version == 1
    assert env.correlation_id == env.event_id  # a new flow starts with itself
    assert codec.body_of(env) == intake_pb2.CaseAccepted(case_id="c1", by_bureau="ipb-sz")


def test_round_trip_is_equal_and_deterministic():
    env = _accepted()
    data = codec.encode(env)
    assert codec.decode(data) == env
    assert codec.encode(codec.decode(data)) == data


def test_non_body_message_is_refused():
    with pytest.raises(TypeError, match="not an Envelope body"):
        codec.envelope(intake_pb2.CaseView(), producer_bureau="x", subject_key="k")


@pytest.mark.parametrize(
    ("value", "error_class", "fragment"),
    [
        (b"\xff\xfe garbage", "DecodeError", "not a valid ipcoord.v1.Envelope"),
        (None, "EmptyRecord", "tombstone"),
        (b"", "MissingField", "event_id"),
    ],
)
def test_decode_failures_name_the_reason(value, error_class, fragment):
    with pytest.raises(codec.InvalidEnvelope) as err:
        codec.decode(value)
    assert err.value.error_class == error_class
    assert fragment in err.value.reason


def test_oversized_is_refused_before_parsing():
    data = codec.encode(_accepted())
    with pytest.raises(codec.InvalidEnvelope) as err:
        codec.decode(data, max_bytes=len(data) - 1)
    assert err.value.error_class == "Oversized"


def test_event_type_must_match_body():
    env = _accepted()
    env.event_type = "ipcoord.v1.CaseClosed"
    with pytest.raises(codec.InvalidEnvelope) as err:
        codec.decode(codec.encode(env))
    assert err.value.error_class == "EventTypeMismatch"


def test_missing_body_and_producer():
    env = _accepted()
    env.ClearField("case_accepted")
    with pytest.raises(codec.InvalidEnvelope, match="no body"):
        codec.check(env)
    env = _accepted()
    env.producer_bureau = ""
    with pytest.raises(codec.InvalidEnvelope, match="producer_bureau"):
        codec.check(env)


def test_headers_carry_type_content_type_and_trace():
    env = _accepted()
    parent = new_traceparent()
    headers = codec.headers(env, parent_traceparent=parent)
    assert codec.header(headers, codec.HEADER_EVENT_TYPE) == "ipcoord.v1.CaseAccepted"
    assert codec.header(headers, codec.HEADER_CONTENT_TYPE) == "application/protobuf"
    child = codec.header(headers, codec.HEADER_TRACEPARENT)
    assert trace_id_of(child) == trace_id_of(parent)
    assert child != parent
    assert codec.header(dict(headers), codec.HEADER_EVENT_TYPE) == "ipcoord.v1.CaseAccepted"


def test_event_ids_are_time_ordered_uuid7():
    ids = [new_event_id() for _ in range(200)]
    assert ids == sorted(ids)
    assert all(i[14] == "7" for i in ids)


def test_invalid_parent_traceparent_starts_a_new_trace():
    assert trace_id_of(new_traceparent("garbage")) is not None
    assert trace_id_of("garbage") is None


def test_derived_event_ids_repeat_for_the_same_command_and_sort_like_their_commands():
    from ipcoord.platform.ids import derived_event_id, new_event_id

    commands = [new_event_id() for _ in range(50)]
    facts = [derived_event_id(c, p) for c in commands for p in range(3)]
    assert facts == [derived_event_id(c, p) for c in commands for p in range(3)]  # stable
    assert len(set(facts)) == len(facts)
    assert sorted(facts) == facts  # command order, then position
    assert all(uuid.UUID(f).version == 8 for f in facts)
    # A sender's own id that is not a UUIDv7 still gives stable, distinct ids.
    assert derived_event_id("SZ-2026-0001", 0) == derived_event_id("SZ-2026-0001", 0)
    assert derived_event_id("SZ-2026-0001", 0) != derived_event_id("SZ-2026-0001", 1)


def test_every_record_reads_as_a_cloudevent_with_the_sdks_kafka_binding():
    env = _accepted()
    message = KafkaMessage(
        headers=dict(codec.headers(env)), key=env.subject_key.encode(), value=codec.encode(env)
    )
    event = from_binary(message, JSONFormat())
    assert event.get_id() == env.event_id
    assert event.get_source() == env.producer_bureau
    assert event.get_type() == "ipcoord.v1.CaseAccepted"
    assert event.get_subject() == env.subject_key
    assert event.get_time() == env.occurred_at.ToDatetime(tzinfo=UTC)
    assert event.get_datacontenttype() == "application/protobuf"
    assert event.get_dataschema() == "urn:ipcoord:proto:ipcoord.v1.Envelope"
    data = event.get_data()  # bytes, or text when the bytes happen to be UTF-8
    assert codec.decode(data if isinstance(data, bytes) else data.encode()) == env
