"""Intake's table values as protobuf: every table's codec gives back the value it was given,
and a record written by an earlier version of a table's message still decodes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from faust.serializers import codecs
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st
from ipcoord.intake.state import (
    DERIVED_INDEXES,
    Action,
    Case,
    HistoryEntry,
    IntakeState,
    Link,
    Submission,
)
from ipcoord.intake.state_codecs import CODECS
from ipcoord.platform import table_codec
from ipcoord.v1 import common_pb2, intake_pb2, intake_state_pb2
from support.reports import report, uscc

AT = datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=UTC)


def _case(**changes) -> Case:
    case = Case(
        case_id="c1",
        status=intake_pb2.CASE_STATUS_FILED,
        submitting_bureau="ipb-sz",
        handling_bureau="ipb-gz",
        report=report("R", respondent_uscc=uscc(1), seller="z9"),
        filed_at=AT,
        match_keys=[f"uscc:{uscc(1)}", "seller:taobao:z9"],
    )
    return dataclasses.replace(case, **changes)


DECIDED = _case(
    status=intake_pb2.CASE_STATUS_DECIDED,
    action_ids=["a1", "a2"],
    links=[Link("c0", intake_pb2.LINK_BASIS_USCC, f"uscc:{uscc(1)}")],
    linked_reports=["monitor-cnipa/HIT-1"],
    linked_report_count=7,
    history=[
        HistoryEntry("e1", "ipcoord.v1.CaseFiled", AT, "ipb-sz", "filed"),
        HistoryEntry("e2", "ipcoord.v1.CaseDecided", AT + timedelta(days=3), "ipb-gz", "x"),
    ],
    decision=intake_pb2.Decision(infringement_established=True),
    assignee="officer 7",
    evidence=[common_pb2.Evidence(sha256="a" * 64, kind=1, location="s3://e/1")],
    fast_track_center="ppc-sz",
    # Not in name order: the order written is the order read.
    deadlines={"decide": AT + timedelta(days=30), "accept": AT + timedelta(days=5)},
    overdue=["accept"],
)
ACTION = Action(
    action_id="a1",
    lead_bureau="ipb-sz",
    title="Sword 2026",
    invited=["ipb-sz", "ipb-gz"],
    starts_at=AT,
    ends_at=AT + timedelta(days=90),
    criteria=intake_pb2.ActionCriteria(division_prefixes=["4403"]),
)
# Per table, values that must come back as they went in: nested times, a case not decided,
# absent ranks, empty maps and lists.
VALUES = {
    "cases": [_case(), DECIDED],
    "submissions": [Submission("c1", "f" * 64), Submission("", "")],
    "identities": [[], [uscc(1), uscc(2)]],
    "actions": [
        ACTION,
        dataclasses.replace(ACTION, members=["ipb-sz"], concluded=True, summary="s"),
    ],
    "targets": [{}, {uscc(3): "Target Ltd.", uscc(4): ""}],
    "watched": [{}, {"decide": AT + timedelta(days=30), "accept": AT}],
    "listed": [[], ["L1", "L2"]],
}


def test_every_stored_table_has_a_codec_and_is_tested_here():
    tables = {f.name for f in dataclasses.fields(IntakeState)} - set(DERIVED_INDEXES)
    assert set(CODECS) == tables
    assert set(VALUES) == tables


@pytest.mark.parametrize("table", sorted(VALUES))
def test_every_table_codec_round_trips_its_values(table):
    codec = CODECS[table]
    for value in VALUES[table]:
        data = codec.encode(value)
        decoded = codec.decode(data)
        assert decoded == value
        assert codec.encode(decoded) == data  # deterministic bytes
        if isinstance(value, dict):
            assert list(decoded) == list(value)  # order kept


def test_times_come_back_as_the_same_instant_in_utc_to_the_microsecond():
    case = CODECS["cases"].decode(CODECS["cases"].encode(DECIDED))
    assert case.filed_at == AT and case.filed_at.tzinfo == UTC
    assert [h.at for h in case.history] == [h.at for h in DECIDED.history]
    # A time in another zone comes back as the same instant, in UTC.
    shanghai = datetime(2026, 11, 2, 17, 30, tzinfo=timezone(timedelta(hours=8)))
    [back] = CODECS["watched"].decode(CODECS["watched"].encode({"accept": shanghai})).values()
    assert back == shanghai and back.tzinfo == UTC


def test_the_faust_serializer_registered_for_a_table_is_its_codec():
    table_codec.value_type("test-intake-cases", CODECS["cases"])
    faust_codec = codecs.get_codec("test-intake-cases")
    assert faust_codec.dumps(DECIDED) == CODECS["cases"].encode(DECIDED)
    assert faust_codec.loads(faust_codec.dumps(DECIDED)) == DECIDED


def test_a_record_that_is_not_the_tables_message_is_refused():
    with pytest.raises(ValueError, match=r"ipcoord\.v1\.CaseRecord"):
        CODECS["cases"].decode(b"\xff\xff\xff")


# ------------------------------------------------------------------ earlier versions


def _previous_version(message: type, *dropped: str) -> type:
    """``message`` as an earlier version declared it: without the fields ``dropped`` (the ones
    added since), in a pool of its own."""
    pool = descriptor_pool.DescriptorPool()
    for file in (timestamp_pb2.DESCRIPTOR, common_pb2.DESCRIPTOR, intake_pb2.DESCRIPTOR):
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        pool.Add(proto)
    state = descriptor_pb2.FileDescriptorProto()
    intake_state_pb2.DESCRIPTOR.CopyToProto(state)
    declared = next(m for m in state.message_type if m.name == message.DESCRIPTOR.name)
    kept = [f for f in declared.field if f.name not in dropped]
    assert len(kept) == len(declared.field) - len(dropped), dropped
    del declared.field[:]
    declared.field.extend(kept)
    pool.Add(state)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(message.DESCRIPTOR.full_name))


def _written_by(older: type, value, codec) -> bytes:
    """The record the older version wrote for ``value``: only the fields it knew."""
    record = older.FromString(codec.encode(value))
    record.DiscardUnknownFields()
    return record.SerializeToString()


def test_a_case_written_before_fast_track_decodes_without_deadlines():
    older = _previous_version(
        intake_state_pb2.CaseRecord, "fast_track_center", "deadlines", "overdue"
    )
    data = _written_by(older, DECIDED, CODECS["cases"])
    decoded = CODECS["cases"].decode(data)
    assert decoded == dataclasses.replace(DECIDED, fast_track_center="", deadlines={}, overdue=[])


@pytest.mark.parametrize("table", sorted(VALUES))
def test_a_record_written_without_the_newest_field_decodes(table):
    """For every table: its message one field ago (the highest number dropped) wrote a record;
    the current codec reads it as the value with that field at its default."""
    codec = CODECS[table]
    fields = codec.message.DESCRIPTOR.fields
    newest = max(fields, key=lambda f: f.number).name
    older = _previous_version(codec.message, newest)
    for value in VALUES[table]:
        current = codec.message.FromString(codec.encode(value))
        current.ClearField(newest)
        assert codec.decode(_written_by(older, value, codec)) == codec.decode(
            current.SerializeToString()
        )


# A case as this version (the first protobuf one) wrote it. Every later version must decode
# these bytes to this value: change the message only as `buf breaking` allows.
_V1_CASE = bytes.fromhex(
    "0a02633110021a066970622d737a22066970622d677a2a0f0a02523142097265706f727420523132060890a2"
    "a1d7063a06757363633a784a0e0a02633010011a06757363633a7862310a02653112146970636f6f72642e76"
    "312e4361736546696c65641a060890a2a1d70622066970622d737a2a0566696c65648a01100a066163636570"
    "741206089097c6d706"
)
_V1_CASE_VALUE = Case(
    case_id="c1",
    status=intake_pb2.CASE_STATUS_ACCEPTED,
    submitting_bureau="ipb-sz",
    handling_bureau="ipb-gz",
    report=intake_pb2.ReportSubmitted(external_ref="R1", title="report R1"),
    filed_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
    match_keys=["uscc:x"],
    links=[Link("c0", intake_pb2.LINK_BASIS_USCC, "uscc:x")],
    history=[
        HistoryEntry(
            "e1", "ipcoord.v1.CaseFiled", datetime(2026, 11, 2, 9, 0, tzinfo=UTC), "ipb-sz", "filed"
        )
    ],
    decision=None,
    deadlines={"accept": datetime(2026, 11, 9, 9, 0, tzinfo=UTC)},
)


def test_a_case_written_by_the_first_version_decodes():
    assert CODECS["cases"].decode(_V1_CASE) == _V1_CASE_VALUE


@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])))
def test_the_direct_timestamp_conversion_is_protobufs(at):
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(at)
    assert table_codec.timestamp(at) == expected
    assert table_codec.time_of(expected) == at
    naive = at.astimezone(UTC).replace(tzinfo=None)
    assert table_codec.timestamp(naive) == expected  # naive reads as UTC, as in protobuf
