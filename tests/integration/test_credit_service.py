"""Credit records as a service on the real broker: intake's decisions (on its real topic) list
a repeat infringer; departments' feedback arrives over gRPC (proven) and Kafka (declared);
the point-of-decision check by entity and by person; refusals with precise statuses."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from ipcoord.credit.main import build
from ipcoord.platform import codec
from ipcoord.platform.topics import CASES, DISCIPLINE_FEEDBACK
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import credit_pb2_grpc
from ipcoord.v1 import intake_pb2 as S
from support.clock import ManualClock
from support.kafka import eventually, produce_envelopes
from support.reports import uscc

PERSON = "11010519491231002X"


class Department:
    """A CreditRecords stub calling as one bureau (dev identity header)."""

    def __init__(self, channel, bureau: str) -> None:
        self._stub = credit_pb2_grpc.CreditRecordsStub(channel)
        self._metadata = (("x-ipcoord-bureau", bureau),)

    def __getattr__(self, method: str):
        rpc = getattr(self._stub, method)
        return lambda request: rpc(request, metadata=self._metadata, timeout=30)


@pytest.fixture
async def credit(settings):
    clock = ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    service = await build(settings, clock=clock, tick_interval_s=3600)
    await service.handle.start()
    yield service
    await service.handle.stop()


@pytest.fixture
async def as_department(credit):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{credit.grpc_port}") as channel:
        yield lambda bureau: Department(channel, bureau)


def _decided(case_id: str, entity: str) -> codec.Envelope:
    decided = S.CaseDecided(
        case_id=case_id,
        by_bureau="ipb-sz",
        decision=S.Decision(infringement_established=True, respondent_uscc=entity),
    )
    return codec.envelope(decided, producer_bureau="ipcoord-intake", subject_key=case_id)


async def _applies(stub, **request) -> C.CheckDisciplineResponse | None:
    try:
        answer = await stub.CheckDiscipline(C.CheckDisciplineRequest(**request))
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.UNAVAILABLE:  # still rebuilding after assignment
            return None
        raise
    return answer if answer.applies else None


async def test_decided_cases_list_a_repeat_infringer_and_feedback_comes_both_ways(
    settings, as_department
):
    entity, ppc = uscc(60), as_department("ppc-shenzhen")
    produce_envelopes(settings, CASES, [_decided("case-1", entity), _decided("case-2", entity)])
    answer = await eventually(lambda: _applies(ppc, uscc=entity, measure_code="CNIPA-02"))
    listing_id = answer.listing_id
    assert listing_id == f"L-{entity}-1" and [m.code for m in answer.measures] == ["CNIPA-02"]
    profile = await ppc.GetCreditProfile(C.GetCreditProfileRequest(uscc=entity))
    assert {r.source_case_id for r in profile.records} == {"case-1", "case-2"}
    listed = await ppc.ListListings(C.ListListingsRequest(active_only=True))
    assert [x.listing_id for x in listed.listings] == [listing_id]

    ndrc = as_department("ndrc")
    given = await ndrc.SubmitFeedback(
        C.DisciplineFeedbackSubmitted(
            listing_id=listing_id, measure_code="NDRC-01", outcome=C.MEASURE_OUTCOME_APPLIED
        )
    )
    assert [(f.department, f.path) for f in given.feedback] == [("ndrc", C.FEEDBACK_PATH_GRPC)]
    # mof reports on the Kafka topic: declared, not proven.
    declared = C.DisciplineFeedbackSubmitted(
        listing_id=listing_id,
        department="mof",
        measure_code="MOF-01",
        outcome=C.MEASURE_OUTCOME_NOT_APPLICABLE,
    )
    produce_envelopes(
        settings,
        DISCIPLINE_FEEDBACK,
        [codec.envelope(declared, producer_bureau="mof", subject_key=listing_id)],
    )

    async def mof_reported():
        seen = await ppc.GetListingFeedback(C.GetListingFeedbackRequest(listing_id=listing_id))
        paths = {f.department: f.path for f in seen.feedback}
        return seen if paths.get("mof") == C.FEEDBACK_PATH_KAFKA_DECLARED else None

    seen = await eventually(mof_reported)
    assert "ndrc" not in seen.departments_pending and "mof" not in seen.departments_pending
    assert "cnipa" in seen.departments_pending
    with pytest.raises(grpc.aio.AioRpcError) as wrong:
        await ndrc.SubmitFeedback(
            C.DisciplineFeedbackSubmitted(
                listing_id=listing_id, measure_code="CNIPA-01", outcome=C.MEASURE_OUTCOME_APPLIED
            )
        )
    assert wrong.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_bureau_records_a_behaviour_with_persons_checked_by_id_number(as_department):
    entity, cnipa = uscc(61), as_department("cnipa")
    person = C.RelatedPersonInput(
        role=C.RELATED_PERSON_ROLE_LEGAL_REPRESENTATIVE, display_name="Zhang San", id_number=PERSON
    )
    request = C.RecordDishonestyRequest(
        entity={"uscc": entity, "name": "Agency Ltd."},
        behaviour=C.DISHONEST_BEHAVIOUR_FALSE_DOCUMENTS,
        related_persons=[person],
    )
    recorded = await cnipa.RecordDishonesty(request)
    assert recorded.behaviour == C.DISHONEST_BEHAVIOUR_FALSE_DOCUMENTS
    answer = await eventually(lambda: _applies(cnipa, person_id_number=PERSON))
    assert answer.listing_id == f"L-{entity}-1"

    with pytest.raises(grpc.aio.AioRpcError) as bad_number:
        await cnipa.RecordDishonesty(
            C.RecordDishonestyRequest(
                entity={"uscc": entity},
                behaviour=C.DISHONEST_BEHAVIOUR_FALSE_DOCUMENTS,
                related_persons=[C.RelatedPersonInput(role=1, display_name="x", id_number="123")],
            )
        )
    assert bad_number.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "related_persons[0].id_number" in bad_number.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as bad_uscc:
        await cnipa.RecordDishonesty(
            C.RecordDishonestyRequest(
                entity={"uscc": "9" * 600_000}, behaviour=C.DISHONEST_BEHAVIOUR_FALSE_DOCUMENTS
            )
        )
    assert bad_uscc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "entity.uscc" in bad_uscc.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as not_allowed:
        await as_department("amr-sz").RecordDishonesty(request)
    assert not_allowed.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_an_upheld_objection_ends_the_discipline_and_repair_waits_its_time(as_department):
    entity, cnipa, amr = uscc(62), as_department("cnipa"), as_department("amr-sz")
    recorded = await cnipa.RecordDishonesty(
        C.RecordDishonestyRequest(
            entity={"uscc": entity}, behaviour=C.DISHONEST_BEHAVIOUR_ABNORMAL_PATENT_APPLICATION
        )
    )
    assert recorded.record_id
    listing_id = (await eventually(lambda: _applies(cnipa, uscc=entity))).listing_id
    with pytest.raises(grpc.aio.AioRpcError) as early:
        await amr.RequestCreditRepair(C.RequestCreditRepair(listing_id=listing_id, statement="s"))
    assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "possible from" in early.value.details()
    objected = await amr.ObjectToListing(C.ObjectToListing(listing_id=listing_id, grounds="g"))
    assert objected.active and [d.name for d in objected.deadlines] == ["objection_decision"]
    with pytest.raises(grpc.aio.AioRpcError) as not_initiator:
        await amr.DecideObjection(C.DecideObjection(listing_id=listing_id, upheld=True, reason="r"))
    assert not_initiator.value.code() == grpc.StatusCode.PERMISSION_DENIED
    decided = await cnipa.DecideObjection(
        C.DecideObjection(listing_id=listing_id, upheld=True, reason="mistaken identity")
    )
    assert not decided.active
    assert decided.removal.reason == C.REMOVAL_REASON_OBJECTION_UPHELD
    assert not await _applies(cnipa, uscc=entity)
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await cnipa.DecideObjection(C.DecideObjection(listing_id="nope", upheld=True, reason="r"))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
