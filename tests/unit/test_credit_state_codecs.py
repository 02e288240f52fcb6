"""Credit files as stored: every value the domain reaches (records, listings active and
removed, feedback, deadlines met and missed, related persons) comes back as it went in, in
deterministic bytes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from ipcoord.credit.state import DERIVED_INDEXES, CreditState
from ipcoord.credit.state_codecs import CODECS
from ipcoord.v1 import credit_pb2 as C
from support.credit import (
    T0,
    decided,
    feedback,
    listed,
    run,
    tick,
)
from support.reports import uscc


def test_every_stored_table_has_a_codec():
    assert set(CODECS) == {f.name for f in dataclasses.fields(CreditState)} - set(DERIVED_INDEXES)


def test_credit_files_in_every_state_round_trip():
    state = CreditState()
    active = listed(state, uscc(20))
    run(state, feedback(active, "ndrc", "NDRC-01"), actor="ndrc")
    run(state, C.ObjectToListing(listing_id=active, grounds="g"), "ipb-sz")
    tick(state, T0 + timedelta(days=40))  # overdue feedback, a missed objection deadline
    removed = listed(state, uscc(21))
    run(state, C.ObjectToListing(listing_id=removed, grounds="g"), "ipb-sz")
    run(state, C.DecideObjection(listing_id=removed, upheld=True, reason="r"))
    run(state, decided("lonely", uscc(22)))
    codec = CODECS["files"]
    assert len(state.files) == 3
    for file in state.files.values():
        data = codec.encode(file)
        assert codec.decode(data) == file
        assert codec.encode(codec.decode(data)) == data
    assert state.files[uscc(21)].listings[removed].removed_at is not None
    assert state.files[uscc(20)].listings[active].deadlines_missed
