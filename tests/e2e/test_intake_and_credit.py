"""Intake and credit records together on the real broker, through their real topics: a
decision in intake becomes a record in credit, a listing in credit ends fast-track in intake,
and its removal restores it."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from ipcoord.credit.main import build as build_credit
from ipcoord.intake.main import build as build_intake
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import credit_pb2_grpc, intake_pb2_grpc
from ipcoord.v1 import intake_pb2 as S
from support.callers import Caller
from support.cases import decided_case, fast_tracked
from support.clock import ManualClock
from support.kafka import eventually
from support.reports import RIGHT_HOLDER, uscc


@pytest.fixture
async def services(settings):
    clock = ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    intake = await build_intake(settings, clock=clock, tick_interval_s=3600)
    credit = await build_credit(settings, clock=clock, tick_interval_s=3600)
    await intake.handle.start()
    await credit.handle.start()
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{intake.grpc_port}") as to_intake,
        grpc.aio.insecure_channel(f"127.0.0.1:{credit.grpc_port}") as to_credit,
    ):
        yield (
            lambda bureau: Caller(intake_pb2_grpc.CaseIntakeStub(to_intake), bureau),
            lambda bureau: Caller(credit_pb2_grpc.CreditRecordsStub(to_credit), bureau),
        )
    await credit.handle.stop()
    await intake.handle.stop()


async def test_a_listing_in_credit_ends_fast_track_in_intake_until_it_is_removed(services):
    intake_as, credit_as = services
    center, cnipa = intake_as("ppc-shenzhen"), credit_as("cnipa")
    await center.RegisterTargetEnterprise(
        S.RegisterTargetEnterprise(enterprise={"uscc": RIGHT_HOLDER, "name": "Right Holder Ltd."})
    )
    assert await fast_tracked(center, "FT-1", uscc(71))

    recorded = await cnipa.RecordDishonesty(
        C.RecordDishonestyRequest(
            entity={"uscc": RIGHT_HOLDER}, behaviour=C.DISHONEST_BEHAVIOUR_FALSE_DOCUMENTS
        )
    )
    listing_id = f"L-{RIGHT_HOLDER}-1"
    assert recorded.entity.uscc == RIGHT_HOLDER

    probes = iter(range(1000))

    async def intake_knows(listed: bool) -> bool:
        # Each probe files a report of its own respondent (a repeat would be linked into an
        # earlier case); its fast-track follows the listing once intake has it.
        n = next(probes)
        return await fast_tracked(center, f"PROBE-{n}", uscc(100 + n)) != listed

    await eventually(lambda: intake_knows(listed=True))
    # The listing ends (an upheld objection); intake hears the removal and fast-tracks again.
    await credit_as("amr-sz").ObjectToListing(C.ObjectToListing(listing_id=listing_id, grounds="g"))
    removed = await cnipa.DecideObjection(
        C.DecideObjection(listing_id=listing_id, upheld=True, reason="mistaken")
    )
    assert not removed.active
    await eventually(lambda: intake_knows(listed=False))


async def test_a_decision_in_intake_becomes_a_record_in_credit(services):
    intake_as, credit_as = services
    ipb, ppc = intake_as("ipb-sz"), credit_as("ppc-shenzhen")
    entity = uscc(73)
    await decided_case(ipb, "D-1", respondent_uscc=entity)

    async def recorded():
        try:
            profile = await ppc.GetCreditProfile(C.GetCreditProfileRequest(uscc=entity))
        except grpc.aio.AioRpcError:
            return None
        return profile if profile.records else None

    profile = await eventually(recorded)
    assert profile.records[0].recorded_by == "ipb-sz"


async def test_a_decision_against_a_shop_counts_once_intake_identifies_its_entity(services):
    intake_as, credit_as = services
    ipb, ppc = intake_as("ipb-sz"), credit_as("ppc-shenzhen")
    entity, shop = uscc(74), "https://shop.example.com/copycat-74"
    online_case = await decided_case(ipb, "ONLINE-1", shop=shop)  # known only by its shop
    await decided_case(ipb, "KNOWN-1", respondent_uscc=entity)

    async def records() -> set[str] | None:
        try:
            profile = await ppc.GetCreditProfile(C.GetCreditProfileRequest(uscc=entity))
        except grpc.aio.AioRpcError:
            return None
        return {r.source_case_id for r in profile.records} or None

    assert online_case not in await eventually(records)  # one record: the shop is nobody yet

    await ipb.IdentifyRespondent(
        S.IdentifyRespondent(
            online_identifier={"shop_url": shop}, entity={"uscc": entity, "name": "Copycat Ltd."}
        )
    )

    async def listed() -> C.CheckDisciplineResponse | None:
        answer = await ppc.CheckDiscipline(C.CheckDisciplineRequest(uscc=entity))
        return answer if answer.applies else None

    answer = await eventually(listed)
    assert answer.listing_id == f"L-{entity}-1"  # repeated infringement: both decisions
    assert online_case in await records()
