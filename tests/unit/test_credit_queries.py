"""Lookups over credit state: the point-of-decision check by entity and by person, profiles,
listings' feedback."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from ipcoord.credit.domain import rebuild_indexes
from ipcoord.credit.domain.shared import years_after
from ipcoord.credit.queries import (
    check_discipline,
    credit_profile,
    list_listings,
    listing_feedback,
)
from ipcoord.credit.state import CreditState
from ipcoord.platform.errors import InvalidInput, NotFound
from ipcoord.platform.personal_ids import PersonHasher
from ipcoord.v1 import credit_pb2 as C
from support.credit import RULES, T0, decided, feedback, listed, run
from support.reports import uscc

PERSON = "11010519491231002X"


def _with_person(state: CreditState, entity: str, hasher: PersonHasher) -> str:
    kept = hasher.hash(PERSON)
    body = C.RecordDishonesty(
        entity={"uscc": entity},
        behaviour=C.DISHONEST_BEHAVIOUR_FALSE_DOCUMENTS,
        related_persons=[
            C.RelatedPerson(
                role=C.RELATED_PERSON_ROLE_ACTUAL_CONTROLLER,
                display_name="Li Si",
                id_number_hmac=kept.digest,
                hash_key_id=kept.key_id,
            )
        ],
    )
    [listing] = [
        e for e in run(state, body, actor="cnipa") if isinstance(e, C.SeriousDishonestyListed)
    ]
    return listing.listing_id


def test_a_listed_entity_is_under_discipline_for_its_measures_until_the_listing_ends():
    state, entity = CreditState(), uscc(30)
    assert not check_discipline(state, RULES, uscc=entity).applies
    listing_id = listed(state, entity)
    answer = check_discipline(state, RULES, uscc=entity, measure_code="CNIPA-02")
    assert answer.applies and answer.listing_id == listing_id
    assert [m.code for m in answer.measures] == ["CNIPA-02"]
    assert answer.since.ToDatetime(UTC) == T0
    assert answer.until.ToDatetime(UTC) == years_after(T0, 3)
    by_department = check_discipline(state, RULES, uscc=entity, department="cnipa")
    assert len(by_department.measures) == 5
    assert not check_discipline(state, RULES, uscc=uscc(31), department="cnipa").applies
    run(state, C.ObjectToListing(listing_id=listing_id, grounds="g"), "ipb-sz")
    run(state, C.DecideObjection(listing_id=listing_id, upheld=True, reason="r"))
    assert not check_discipline(state, RULES, uscc=entity, measure_code="CNIPA-02").applies


def test_a_person_listed_with_an_entity_is_found_under_a_rotated_key_too():
    state, entity = CreditState(), uscc(32)
    old = PersonHasher({"k1": b"a" * 32}, "k1")
    listing_id = _with_person(state, entity, old)
    rotated = PersonHasher({"k1": b"a" * 32, "k2": b"b" * 32}, "k2")
    answer = check_discipline(state, RULES, person=rotated.candidates(PERSON))
    assert answer.applies and answer.listing_id == listing_id
    other = PersonHasher({"k1": b"a" * 32}, "k1").candidates("110105194912310037")
    assert not check_discipline(state, RULES, person=other).applies
    # The persons index is derived: rebuilt from the files it is the same.
    before = dict(state.persons)
    rebuild_indexes(state)
    assert dict(state.persons) == before and before


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "uscc"),
        ({"uscc": "123"}, "uscc"),
        ({"uscc": uscc(1), "measure_code": "NOPE"}, "measure_code"),
        ({"uscc": uscc(1), "department": "nobody"}, "department"),
    ],
)
def test_a_check_names_the_bad_field(kwargs, field):
    with pytest.raises(InvalidInput) as refused:
        check_discipline(CreditState(), RULES, **kwargs)
    assert refused.value.violations[0].field == field


def test_a_profile_has_records_newest_first_and_listings_active_and_removed():
    state, entity = CreditState(), uscc(33)
    assert credit_profile(state, RULES, entity).entity.uscc == entity  # nothing on record
    first = listed(state, entity)
    run(state, C.ObjectToListing(listing_id=first, grounds="g"), "ipb-sz")
    run(state, C.DecideObjection(listing_id=first, upheld=True, reason="r"))
    later = T0 + timedelta(days=30)
    run(state, decided("c3", entity, later), at=later)
    run(state, decided("c4", entity, later), at=later)
    profile = credit_profile(state, RULES, entity)
    assert [r.source_case_id for r in profile.records][:2] == ["c4", "c3"]
    assert [x.listing_id for x in profile.removed_listings] == [first]
    assert profile.removed_listings[0].reason == C.REMOVAL_REASON_OBJECTION_UPHELD
    assert len(profile.active_listings) == 1


def test_a_listings_feedback_shows_who_acted_and_who_is_pending():
    state, entity = CreditState(), uscc(34)
    listing_id = listed(state, entity)
    run(state, feedback(listing_id, "ndrc", "NDRC-01"), actor="ndrc")
    seen = listing_feedback(state, listing_id)
    assert [(f.department, f.measure_code) for f in seen.feedback] == [("ndrc", "NDRC-01")]
    assert seen.feedback[0].path == C.FEEDBACK_PATH_GRPC
    assert seen.departments_pending == ["cnipa", "mof", "amr-sz"]
    with pytest.raises(NotFound):
        listing_feedback(state, "L-91440300708461136T-9")


def test_listings_page_in_id_order_all_or_active_only():
    state = CreditState()
    ids = [listed(state, uscc(n)) for n in range(40, 45)]
    removed = ids[2]
    run(state, C.ObjectToListing(listing_id=removed, grounds="g"), "ipb-sz")
    run(state, C.DecideObjection(listing_id=removed, upheld=True, reason="r"))
    seen, token = [], ""
    while True:
        page = list_listings(
            state, C.ListListingsRequest(page={"page_size": 2, "page_token": token})
        )
        seen += [x.listing_id for x in page.listings]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(ids)
    active = list_listings(state, C.ListListingsRequest(active_only=True))
    assert [x.listing_id for x in active.listings] == sorted(set(ids) - {removed})
