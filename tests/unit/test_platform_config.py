from __future__ import annotations

import pytest
from ipcoord.platform import codec
from ipcoord.platform.bureaus import BureauKind, BureauRegistry
from ipcoord.platform.deadletter import dead_letter
from ipcoord.platform.settings import ProcessingGuarantee, Settings
from ipcoord.platform.topics import TOPICS, by_name, full_name
from ipcoord.v1 import intake_pb2
from pydantic import ValidationError


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "a:9092, b:9092")
    monkeypatch.setenv("IPCOORD_TOPIC_PREFIX", "staging.")
    monkeypatch.setenv("IPCOORD_PROCESSING_GUARANTEE", "exactly_once")
    monkeypatch.setenv("IPCOORD_GRPC_PORT", "0")
    s = Settings()
    assert s.bootstrap_servers == ["a:9092", "b:9092"]
    assert s.topic_prefix == "staging."
    assert s.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE
    assert s.grpc_port == 0


def test_settings_reject_bad_values(monkeypatch):
    monkeypatch.setenv("IPCOORD_TOPIC_PREFIX", "bad prefix/")
    with pytest.raises(ValidationError, match="topic_prefix"):
        Settings()


def test_topic_registry_is_complete_and_unique():
    names = [t.name for t in TOPICS]
    assert len(names) == len(set(names))
    assert set(names) == {
        "ipcoord.intake.submissions.v1",
        "ipcoord.cases.v1",
        "ipcoord.credit.v1",
        "ipcoord.discipline.feedback.v1",
        "ipcoord.notifications.v1",
        "ipcoord.deadletter.v1",
    }
    for spec in TOPICS:
        assert spec.partitions >= 1
        assert spec.producers, spec.name
        assert spec.config()["cleanup.policy"] in {"delete", "compact"}
    assert by_name("ipcoord.cases.v1").partitions == 6
    assert full_name(by_name("ipcoord.cases.v1"), "t1.") == "t1.ipcoord.cases.v1"
    with pytest.raises(KeyError, match="unknown topic"):
        by_name("ipcoord.nope")


def test_bureau_registry_parses_and_validates():
    registry = BureauRegistry.parse("ipb-gd:ipa:440000\nppc-shenzhen:ppc:440300 # a comment")
    assert registry.get("ppc-shenzhen").kind is BureauKind.PROTECTION_CENTER
    assert "ipb-gd" in registry and "nobody" not in registry
    assert "cnipa" in BureauRegistry.parse("")  # the development default
    with pytest.raises(ValueError, match="6 digits"):
        BureauRegistry.parse("x1:ipa:44")
    with pytest.raises(ValueError, match="id:kind:division"):
        BureauRegistry.parse("x1:ipa")
    with pytest.raises(ValueError):
        BureauRegistry.parse("x1:spaceagency:440000")


def test_dead_letter_keeps_original_and_finds_sender():
    env = codec.envelope(
        intake_pb2.CaseAccepted(case_id="c1"), producer_bureau="ipb-sz", subject_key="c1"
    )
    letter = dead_letter(
        value=codec.encode(env),
        key=b"c1",
        topic="t",
        partition=2,
        offset=7,
        reason="why",
        error_class="ValidationError",
        rejected_by="intake",
    )
    assert letter.original_value == codec.encode(env)
    assert (letter.source_partition, letter.source_offset) == (2, 7)
    assert letter.original_event_id == env.event_id
    assert letter.original_producer_bureau == "ipb-sz"
    garbage = dead_letter(
        value=b"\xff\xff",
        key=None,
        topic="t",
        partition=0,
        offset=0,
        reason="r",
        error_class="DecodeError",
        rejected_by="intake",
    )
    assert garbage.original_event_id == ""


def test_dead_letter_of_an_oversized_record_keeps_a_bounded_copy():
    from ipcoord.platform.deadletter import MAX_ORIGINAL_BYTES

    big = b"\x00" * (MAX_ORIGINAL_BYTES * 4)
    letter = dead_letter(
        value=big,
        key=b"k",
        topic="t",
        partition=0,
        offset=9,
        reason="too big",
        error_class="Oversized",
        rejected_by="intake",
    )
    assert len(letter.original_value) == MAX_ORIGINAL_BYTES
    assert letter.original_size == len(big) and letter.original_truncated
    assert len(letter.SerializeToString()) < MAX_ORIGINAL_BYTES + 1024
