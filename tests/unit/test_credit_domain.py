"""Credit records without infrastructure: records, listing rules, feedback, overdue, objection,
repair, expiry, replay. The shipped rules file (services/ipcoord/credit/rules.yaml) with the
demo bureaus."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from ipcoord.credit.domain import Command, Meta, decide, evolve, rebuild_indexes
from ipcoord.credit.domain.discipline import pending_measures
from ipcoord.credit.domain.shared import years_after
from ipcoord.credit.keys import partition_of
from ipcoord.credit.state import DERIVED_INDEXES, RECORDS_KEPT, CreditState, listing_id_for
from ipcoord.platform.errors import IllegalTransition, InvalidInput, NotFound, NotPermitted
from ipcoord.v1 import credit_pb2 as C
from support.credit import (
    DEPARTMENTS,
    HASHER,
    RULES,
    T0,
    decided,
    feedback,
    listed,
    names,
    run,
    tick,
)
from support.reports import uscc

# ------------------------------------------------------------------------------ records


def test_repeated_infringement_within_five_years_lists_the_entity_with_its_measures():
    state, entity = CreditState(), uscc(1)
    first = run(state, decided("case-1", entity, T0 - timedelta(days=4 * 365)))
    assert names(first) == ["DishonestyRecorded"]
    events = run(state, decided("case-2", entity))
    assert names(events) == ["DishonestyRecorded", "SeriousDishonestyListed"]
    listing = events[1]
    assert listing.listing_id == listing_id_for(entity, 1)
    assert listing.behaviours == [C.DISHONEST_BEHAVIOUR_REPEATED_PATENT_INFRINGEMENT]
    assert listing.record_ids == ["R-case-1-7", "R-case-2-7"]
    assert listing.initiating_department == "cnipa" and listing.rule == "repeated-infringement"
    assert [m.code for m in listing.measures][:2] == ["CNIPA-01", "CNIPA-02"]
    assert len(listing.measures) == 8
    # Each implementing department's feedback is due in 10 working days: by the end of the
    # tenth (Beijing time), two weeks on here.
    assert [d.name for d in listing.feedback_deadlines] == DEPARTMENTS
    assert {d.due_at.ToDatetime(UTC) for d in listing.feedback_deadlines} == {
        datetime(2026, 3, 16, 15, 59, 59, tzinfo=UTC)
    }
    assert listing.expires_at.ToDatetime(UTC) == years_after(T0, 3)
    assert state.files[entity].active_listings()[0].listing_id == listing.listing_id


def test_infringements_further_apart_than_the_window_do_not_list():
    state, entity = CreditState(), uscc(2)
    run(state, decided("old", entity, T0 - timedelta(days=6 * 365)))
    assert names(run(state, decided("new", entity))) == ["DishonestyRecorded"]
    assert state.files[entity].record_count == 2 and not state.files[entity].listings


def test_a_decision_relayed_twice_makes_one_record_and_no_decision_without_infringement():
    state, entity = CreditState(), uscc(3)
    run(state, decided("case-1", entity))
    assert run(state, decided("case-1", entity)) == []
    assert run(state, decided("case-9", entity, established=False)) == []
    assert state.files[entity].record_count == 1


def test_refusal_to_comply_lists_at_once():
    state, entity = CreditState(), uscc(4)
    events = run(state, decided("case-1", entity, established=False, refused=True))
    assert names(events) == ["DishonestyRecorded", "SeriousDishonestyListed"]
    assert events[1].behaviours == [C.DISHONEST_BEHAVIOUR_REFUSAL_TO_COMPLY]


def test_a_decision_against_an_invalid_uscc_is_refused_with_the_field():
    with pytest.raises(InvalidInput) as refused:
        run(CreditState(), decided("case-1", "91440300708461136X"))
    assert refused.value.violations[0].field == "respondent.uscc"


def test_bureaus_record_other_behaviours_directly_with_related_persons_as_hashes():
    state, entity = CreditState(), uscc(5)
    person = HASHER.hash("11010519491231002X")
    body = C.RecordDishonesty(
        entity={"uscc": entity, "name": "Agency Ltd."},
        behaviour=C.DISHONEST_BEHAVIOUR_FALSE_DOCUMENTS,
        note="forged priority documents",
        related_persons=[
            C.RelatedPerson(
                role=C.RELATED_PERSON_ROLE_LEGAL_REPRESENTATIVE,
                display_name="Zhang San",
                id_number_hmac=person.digest,
                hash_key_id=person.key_id,
            )
        ],
    )
    with pytest.raises(NotPermitted):
        run(state, body, actor="amr-sz")
    events = run(state, body, actor="ipb-sz")
    assert names(events) == [
        "DishonestyRecorded",
        "RelatedPersonsRecorded",
        "SeriousDishonestyListed",
    ]
    listing = events[2]
    assert listing.entity.name == "Agency Ltd."  # from the record that made the listing
    assert listing.related_persons[0].display_name == "Zhang San"
    assert listing.related_persons[0].id_number_hmac == person.digest
    assert b"11010519491231002X" not in b"".join(e.SerializeToString() for e in events)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"behaviour": C.DISHONEST_BEHAVIOUR_INFRINGEMENT}, "behaviour"),
        ({"behaviour": C.DISHONEST_BEHAVIOUR_UNSPECIFIED}, "behaviour"),
        ({"entity": {"uscc": "123"}}, "entity.uscc"),
        ({"note": "x" * 2001}, "note"),
    ],
)
def test_a_direct_record_names_every_bad_field(change, field):
    body = C.RecordDishonesty(
        entity={"uscc": uscc(6)}, behaviour=C.DISHONEST_BEHAVIOUR_FALSE_DOCUMENTS
    )
    for name, value in change.items():
        if isinstance(value, dict):
            getattr(body, name).CopyFrom(type(getattr(body, name))(**value))
        else:
            setattr(body, name, value)
    with pytest.raises(InvalidInput) as refused:
        run(CreditState(), body)
    assert field in [v.field for v in refused.value.violations]


def test_records_stay_bounded_while_counting_them_all():
    state, entity = CreditState(), uscc(7)
    for i in range(RECORDS_KEPT + 50):
        run(state, decided(f"c{i}", entity, T0 - timedelta(days=3000 - i)), at=T0)
    file = state.files[entity]
    assert len(file.records) == RECORDS_KEPT and file.record_count == RECORDS_KEPT + 50


# ------------------------------------------------------------------------------ feedback


def test_departments_report_per_measure_and_are_pending_until_all_are_reported():
    state, entity = CreditState(), uscc(8)
    listing_id = listed(state, entity)
    listing = state.files[entity].listings[listing_id]
    cnipa = [m.code for m in listing.measures if m.implementing_department == "cnipa"]
    with pytest.raises(NotPermitted):
        run(state, feedback(listing_id, "ndrc", "CNIPA-01"), actor="ndrc")
    with pytest.raises(NotPermitted):
        run(state, feedback(listing_id, "cnipa", "CNIPA-01"), actor="ndrc")
    with pytest.raises(InvalidInput):
        run(state, feedback(listing_id, "cnipa", "NOPE-1"))
    with pytest.raises(InvalidInput):
        run(state, feedback(listing_id, "cnipa", "CNIPA-01", C.MEASURE_OUTCOME_REJECTED))
    with pytest.raises(IllegalTransition):
        run(state, feedback(listing_id, "cnipa", "CNIPA-01", C.MEASURE_OUTCOME_LIFTED))
    with pytest.raises(NotFound):
        run(state, feedback(listing_id_for(entity, 9), "cnipa", "CNIPA-01"))
    for code in cnipa[:-1]:
        run(state, feedback(listing_id, "cnipa", code))
    assert "cnipa" in listing_of(state, entity, listing_id).feedback_due
    run(state, feedback(listing_id, "cnipa", cnipa[-1], C.MEASURE_OUTCOME_REJECTED, "no basis"))
    current = listing_of(state, entity, listing_id)
    assert "cnipa" not in current.feedback_due
    assert current.feedback[f"cnipa/{cnipa[-1]}"].path == C.FEEDBACK_PATH_GRPC


def test_late_departments_are_reported_once_per_deadline():
    state, entity = CreditState(), uscc(9)
    listing_id = listed(state, entity)
    run(state, feedback(listing_id, "ndrc", "NDRC-01"), actor="ndrc")
    assert tick(state, T0 + timedelta(days=13)) == []
    late = tick(state, T0 + timedelta(days=15))
    assert names(late) == ["FeedbackOverdue"] * 3
    assert [e.department for e in late] == ["amr-sz", "cnipa", "mof"]
    assert late[1].measure_codes == ["CNIPA-01", "CNIPA-02", "CNIPA-03", "CNIPA-04", "CNIPA-05"]
    assert tick(state, T0 + timedelta(days=16)) == []


# ------------------------------------------------------------------------------ remedies


def test_an_upheld_objection_removes_the_listing_and_lifts_every_measure():
    state, entity = CreditState(), uscc(10)
    listing_id = listed(state, entity)
    objected = run(
        state, C.ObjectToListing(listing_id=listing_id, grounds="wrong entity"), "amr-sz"
    )
    assert objected[0].received_by == "amr-sz"
    with pytest.raises(IllegalTransition):
        run(state, C.ObjectToListing(listing_id=listing_id, grounds="again"))
    with pytest.raises(NotPermitted):
        run(state, C.DecideObjection(listing_id=listing_id, upheld=True, reason="r"), "ipb-sz")
    events = run(state, C.DecideObjection(listing_id=listing_id, upheld=True, reason="mistaken"))
    assert names(events) == ["ObjectionDecided", "ListingRemoved"] + ["MeasureLifted"] * 8
    assert events[1].reason == C.REMOVAL_REASON_OBJECTION_UPHELD
    assert not state.files[entity].active_listings()
    # Feedback is owed again: LIFTED, not APPLIED.
    with pytest.raises(IllegalTransition):
        run(state, feedback(listing_id, "ndrc", "NDRC-01"), actor="ndrc")
    listing = listing_of(state, entity, listing_id)
    assert pending_measures(listing, "ndrc") == ["NDRC-01"]
    run(state, feedback(listing_id, "ndrc", "NDRC-01", C.MEASURE_OUTCOME_LIFTED), actor="ndrc")
    assert "ndrc" not in listing_of(state, entity, listing_id).feedback_due


def test_a_rejected_objection_keeps_the_listing_and_a_missed_decision_is_reported_once():
    state, entity = CreditState(), uscc(11)
    listing_id = listed(state, entity)
    run(state, C.ObjectToListing(listing_id=listing_id, grounds="g"), "ipb-sz")
    for department, code in [("ndrc", "NDRC-01"), ("mof", "MOF-01"), ("amr-sz", "AMR-01")]:
        run(state, feedback(listing_id, department, code), actor=department)
    for code in ["CNIPA-01", "CNIPA-02", "CNIPA-03", "CNIPA-04", "CNIPA-05"]:
        run(state, feedback(listing_id, "cnipa", code))
    missed = tick(state, T0 + timedelta(days=30))
    assert names(missed) == ["CreditDeadlineMissed"] and missed[0].deadline == "objection_decision"
    assert tick(state, T0 + timedelta(days=31)) == []
    events = run(state, C.DecideObjection(listing_id=listing_id, upheld=False, reason="checked"))
    assert names(events) == ["ObjectionDecided"] and state.files[entity].active_listings()


def test_credit_repair_after_a_year_acknowledged_then_granted():
    state, entity = CreditState(), uscc(12)
    listing_id = listed(state, entity)
    with pytest.raises(IllegalTransition, match="possible from 2027-03-02"):
        run(state, C.RequestCreditRepair(listing_id=listing_id, statement="s"), "ipb-sz")
    later = years_after(T0, 1) + timedelta(days=1)
    requested = run(
        state, C.RequestCreditRepair(listing_id=listing_id, statement="fixed"), "ipb-sz", later
    )
    assert requested[0].feedback_due_at.ToDatetime(UTC) > later
    with pytest.raises(InvalidInput):  # a decision gives its reason
        run(state, C.DecideCreditRepair(listing_id=listing_id, granted=True), at=later)
    with pytest.raises(NotPermitted):
        run(state, C.AcknowledgeRepairRequest(listing_id=listing_id), "ipb-sz", later)
    acknowledged = run(state, C.AcknowledgeRepairRequest(listing_id=listing_id), at=later)
    assert names(acknowledged) == ["CreditRepairAcknowledged"]
    assert list(listing_of(state, entity, listing_id).deadlines) == ["repair_decision"]
    events = run(
        state,
        C.DecideCreditRepair(listing_id=listing_id, granted=True, reason="complied"),
        at=later,
    )
    assert names(events)[:2] == ["CreditRepairDecided", "ListingRemoved"]
    assert events[1].reason == C.REMOVAL_REASON_CREDIT_REPAIRED


def test_a_listing_expires_by_itself_and_new_infringements_list_again():
    state, entity = CreditState(), uscc(13)
    listing_id = listed(state, entity)
    end = years_after(T0, 3)
    events = tick(state, end + timedelta(hours=1))
    removed = [e for e in events if isinstance(e, C.ListingRemoved)]
    assert [(e.listing_id, e.reason) for e in removed] == [(listing_id, C.REMOVAL_REASON_EXPIRED)]
    assert removed[0].removed_at.ToDatetime(UTC) == end
    # The infringements behind the old listing do not count again; two new ones do.
    later = end + timedelta(days=10)
    assert names(run(state, decided("c-new-1", entity, later), at=later)) == ["DishonestyRecorded"]
    again = run(state, decided("c-new-2", entity, later), at=later)
    assert again[-1].listing_id == listing_id_for(entity, 2)


def test_replaying_the_facts_rebuilds_the_same_state_and_twice_changes_nothing():
    live, log, at = CreditState(), [], T0
    commands = [
        (decided("r1", uscc(14)), "cnipa"),
        (decided("r2", uscc(14)), "cnipa"),
        (decided("r3", uscc(15), refused=True), "cnipa"),
        # A decision held under an online key, then released when its entity is identified.
        (C.HoldDecidedCase(online_key="shop:x.example/s", decision=decided("r4", "")), "ipb-sz"),
        (
            C.IdentifyOnlineRespondent(
                online_key="shop:x.example/s", entity={"uscc": uscc(16)}, by_bureau="ipb-sz"
            ),
            "ipb-sz",
        ),
    ]
    for n, (body, actor) in enumerate(commands):
        for i, event in enumerate(decide(Command(body, actor, f"c{n}", at), live, RULES)):
            meta = Meta(f"e{n}-{i}", at)
            evolve(live, event, meta)
            log.append((event, meta))
    listing_id = listing_id_for(uscc(14), 1)
    body = C.ObjectToListing(listing_id=listing_id, grounds="g")
    for i, event in enumerate(decide(Command(body, "ipb-sz", "o", at), live, RULES)):
        evolve(live, event, Meta(f"o-{i}", at))
        log.append((event, Meta(f"o-{i}", at)))
    rebuilt = CreditState()
    for event, meta in log:
        evolve(rebuilt, event, meta)
    assert rebuilt == live
    for event, meta in log:
        evolve(rebuilt, event, meta)
    assert rebuilt == live
    assert set(live.watched) == {uscc(14), uscc(15)}
    # The derived indexes, rebuilt from the files alone, are the ones evolve kept.
    stale = {name: {} for name in DERIVED_INDEXES} | {"persons": {"x": ["y"]}}
    derived = dataclasses.replace(live, **stale)
    rebuild_indexes(derived)
    assert derived == live


def listing_of(state, entity, listing_id):
    return state.files[entity].listings[listing_id]


def test_a_tick_checks_only_the_entities_of_its_partition_and_only_from_the_clock():
    state = CreditState()
    entities = [uscc(n) for n in range(50, 56)]
    for n, entity in enumerate(entities):
        run(state, decided(f"p{n}", entity, established=False, refused=True))
    later = T0 + timedelta(days=40)
    by_partition = {partition_of(e, 6) for e in entities}
    partition = sorted(by_partition)[0]
    tick = C.CheckCreditDeadlines(partition=partition, partition_count=6)
    tick.now.FromDatetime(later)
    events = run(state, tick, actor="ipcoord-credit", at=later)
    touched = {e.listing_id.split("-")[1] for e in events}
    assert touched == {e for e in entities if partition_of(e, 6) == partition}
    assert len(by_partition) > 1  # the other partitions' entities were left alone
    with pytest.raises(NotPermitted):
        run(state, C.CheckCreditDeadlines(), actor="mof", at=later)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"case_id": "x" * 101}, "case_id"),
        ({"by_bureau": "nobody"}, "by_bureau"),
        ({"respondent": {"uscc": uscc(57), "name": "n" * 201}}, "respondent.name"),
    ],
)
def test_a_relayed_decision_out_of_bounds_is_refused_with_the_field(change, field):
    body = decided("c-bounds", uscc(57))
    for name, value in change.items():
        if isinstance(value, dict):
            getattr(body, name).CopyFrom(type(getattr(body, name))(**value))
        else:
            setattr(body, name, value)
    with pytest.raises(InvalidInput) as refused:
        run(CreditState(), body)
    assert field in [v.field for v in refused.value.violations]
