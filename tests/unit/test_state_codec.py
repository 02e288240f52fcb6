from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest
from ipcoord.intake.state import Action, Case, HistoryEntry, Link
from ipcoord.platform.state_codec import StateCodec
from ipcoord.v1 import common_pb2, intake_pb2
from support.reports import report, uscc

CODEC = StateCodec(Case, Action, Link, HistoryEntry)


def test_round_trips_domain_values():
    at = datetime(2026, 11, 2, 9, tzinfo=UTC)
    case = Case(
        case_id="c",
        status=intake_pb2.CASE_STATUS_FILED,
        submitting_bureau="ipb-sz",
        handling_bureau="ipb-sz",
        report=report("R", respondent_uscc=uscc(1)),
        filed_at=at,
        match_keys=["uscc:x"],
        links=[Link("d", 1, "uscc:x")],
        history=[HistoryEntry("e", "ipcoord.v1.CaseFiled", at, "ipb-sz", "filed")],
        decision=intake_pb2.Decision(infringement_established=True),
        evidence=[common_pb2.Evidence(sha256="a" * 64)],
        deadlines={"accept": at},
    )
    for value in (case, ["a", "b"], {"u1": "name"}, True, "x", None):
        assert CODEC.loads(CODEC.dumps(value)) == value


def test_refuses_what_it_does_not_know():
    with pytest.raises(TypeError):
        CODEC.dumps(object())
    with pytest.raises(ValueError, match="unknown type"):
        CODEC.loads(b'{"$dc": "Popen", "f": {}}')
    with pytest.raises(ValueError, match="foreign message"):
        CODEC.loads(b'{"$pb": "google.protobuf.Any", "v": ""}')
    with pytest.raises(ValueError):
        CODEC.loads(pickle.dumps({"a": 1}))  # a pickle is not JSON: never unpickled
