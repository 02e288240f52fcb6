"""Two `ipcoord serve credit` replicas in one consumer group (rocksdb, the production runner),
six partitions shared between them: every write and every lookup is answered correctly on
both, whichever replica holds the entity; a lookup by person and a page of listings gather
every partition; with one replica stopped, the other answers everything after the rebalance."""

from __future__ import annotations

import grpc
from ipcoord.credit.keys import partition_of
from ipcoord.platform.topics import CREDIT_COMMANDS
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import credit_pb2_grpc
from support.reports import uscc
from support.serving import Replica, until_available

_CNIPA = (("x-ipcoord-bureau", "cnipa"),)
PERSON = "11010519491231002X"


def _two_per_partition() -> list[str]:
    chosen: dict[int, list[str]] = {}
    n = 700
    while sum(map(len, chosen.values())) < 2 * CREDIT_COMMANDS.partitions:
        entity = uscc(n)
        spot = chosen.setdefault(partition_of(entity, CREDIT_COMMANDS.partitions), [])
        if len(spot) < 2:
            spot.append(entity)
        n += 1
    return [e for p in sorted(chosen) for e in chosen[p]]


# Two entities on each partition, so that both replicas hold some of them; the person is named
# on the first entity of partitions 0 and 3.
ENTITIES = _two_per_partition()
WITH_PERSON = (0, 6)


def _record(entity: str, with_person: bool) -> C.RecordDishonestyRequest:
    persons = (
        [
            C.RelatedPersonInput(
                role=C.RELATED_PERSON_ROLE_ACTUAL_CONTROLLER,
                display_name="Li Si",
                id_number=PERSON,
            )
        ]
        if with_person
        else []
    )
    return C.RecordDishonestyRequest(
        entity={"uscc": entity, "name": f"Entity {entity[-4:]}"},
        behaviour=C.DISHONEST_BEHAVIOUR_REFUSAL_TO_COMPLY,  # listed at once
        related_persons=persons,
    )


def _ask(stub, method: str, request):
    return until_available(getattr(stub, method), request, metadata=_CNIPA)


def _every_lookup_is_right(stub, entities: list[str]) -> None:
    for entity in entities:
        check = _ask(stub, "CheckDiscipline", C.CheckDisciplineRequest(uscc=entity))
        assert check.applies and check.listing_id == f"L-{entity}-1", entity
        profile = _ask(stub, "GetCreditProfile", C.GetCreditProfileRequest(uscc=entity))
        assert [r.behaviour for r in profile.records] == [C.DISHONEST_BEHAVIOUR_REFUSAL_TO_COMPLY]
        feedback = _ask(
            stub, "GetListingFeedback", C.GetListingFeedbackRequest(listing_id=check.listing_id)
        )
        assert "cnipa" in feedback.departments_pending
    clean = _ask(stub, "CheckDiscipline", C.CheckDisciplineRequest(uscc=uscc(699)))
    assert not clean.applies
    # The person is named on two entities' listings (different partitions): the listing that
    # runs longest answers, whichever replica holds it.
    by_person = _ask(stub, "CheckDiscipline", C.CheckDisciplineRequest(person_id_number=PERSON))
    assert by_person.applies
    assert by_person.listing_id in {f"L-{entities[i]}-1" for i in WITH_PERSON}
    # Pages of five across both replicas' partitions: every listing once, in id order.
    seen, token = [], ""
    while True:
        page = _ask(
            stub,
            "ListListings",
            C.ListListingsRequest(active_only=True, page={"page_size": 5, "page_token": token}),
        )
        seen += [x.listing_id for x in page.listings]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(f"L-{e}-1" for e in entities)


def test_every_write_and_lookup_is_answered_on_either_replica(settings, tmp_path):
    replicas = [Replica(settings, "credit", tmp_path, name) for name in ("credit-a", "credit-b")]
    channels = []
    try:
        for replica in replicas:
            replica.wait_serving()
        channels = [grpc.insecure_channel(replica.address) for replica in replicas]
        stubs = [credit_pb2_grpc.CreditRecordsStub(channel) for channel in channels]
        for i, entity in enumerate(ENTITIES):
            recorded = _ask(stubs[i % 2], "RecordDishonesty", _record(entity, i in WITH_PERSON))
            assert recorded.entity.uscc == entity

        for stub in stubs:
            _every_lookup_is_right(stub, ENTITIES)

        # The write side too: feedback on a listing through the replica that does not own it.
        listing = f"L-{ENTITIES[3]}-1"
        for stub in stubs:
            given = _ask(
                stub,
                "SubmitFeedback",
                C.DisciplineFeedbackSubmitted(
                    listing_id=listing,
                    measure_code="CNIPA-01",
                    outcome=C.MEASURE_OUTCOME_APPLIED,
                ),
            )
            assert [f.measure_code for f in given.feedback] == ["CNIPA-01"]

        replicas[1].stop()  # its partitions go to the other replica after the rebalance
        _every_lookup_is_right(stubs[0], ENTITIES)
    finally:
        for channel in channels:
            channel.close()
        for replica in replicas:
            replica.stop()
