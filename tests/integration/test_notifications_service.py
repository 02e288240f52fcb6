"""The notifications service on the real broker: one case's lifecycle fanned out to the right
recipients and nobody else; the gap-free sequence, the inbox and acknowledgement; a stream
resumed after a disconnect with no gap and no duplicate (a real gRPC client); subscriptions;
one bureau cannot read another's inbox or follow its stream."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from ipcoord.notifications.main import build
from ipcoord.platform import codec
from ipcoord.platform.topics import CASES, CREDIT
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import notifications_pb2 as N
from ipcoord.v1 import notifications_pb2_grpc
from support.kafka import eventually, produce_envelopes
from support.reports import RIGHT_HOLDER, report, uscc

RESPONDENT = uscc(41)
OPERATOR = "cnipa"


class Caller:
    """A Notifications stub calling as one bureau (dev identity header)."""

    def __init__(self, channel, bureau: str) -> None:
        self._stub = notifications_pb2_grpc.NotificationsStub(channel)
        self.metadata = (("x-ipcoord-bureau", bureau),)

    def __getattr__(self, method: str):
        rpc = getattr(self._stub, method)
        if method == "Subscribe":
            return lambda request, **kw: rpc(request, metadata=self.metadata, **kw)
        return lambda request: rpc(request, metadata=self.metadata, timeout=30)


@pytest.fixture
async def notifications(settings):
    service = await build(settings.model_copy(update={"operators": frozenset({OPERATOR})}))
    await service.handle.start()
    yield service
    await service.handle.stop()


@pytest.fixture
async def as_bureau(notifications):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{notifications.grpc_port}") as channel:
        yield lambda bureau: Caller(channel, bureau)


def fact(body, key: str) -> codec.Envelope:
    return codec.envelope(body, producer_bureau="ipcoord-intake", subject_key=key)


def _lifecycle() -> list[tuple[object, codec.Envelope]]:
    """A special action, then a case filed, enrolled, decided, and its respondent listed."""
    filed = S.CaseFiled(
        case_id="C-1",
        submitting_bureau="monitor-cnipa",
        handling_bureau="ipb-sz",
        report=report("r-1", respondent_uscc=RESPONDENT),
    )
    decided = S.CaseDecided(
        case_id="C-1",
        by_bureau="ipb-sz",
        decision=S.Decision(infringement_established=True, respondent_uscc=RESPONDENT),
    )
    listed = C.SeriousDishonestyListed(
        listing_id=f"L-{RESPONDENT}-1",
        entity={"uscc": RESPONDENT},
        initiating_department="cnipa",
        measures=[
            C.Measure(code="NDRC-01", implementing_department="ndrc"),
            C.Measure(code="MOF-01", implementing_department="mof"),
        ],
    )
    return [
        (CASES, fact(filed, "C-1")),
        (CASES, fact(S.CaseEnrolled(action_id="A-1", case_id="C-1"), "C-1")),
        (CASES, fact(decided, "C-1")),
        (CREDIT, fact(listed, RESPONDENT)),
    ]


async def _inbox(caller, recipient: str) -> list[N.Notification]:
    page = await caller.ListNotifications(
        N.ListNotificationsRequest(recipient=recipient, page={"page_size": 500})
    )
    return list(reversed(page.notifications))  # oldest first


async def _types(caller, recipient: str) -> list[str]:
    return [n.record.source_event_type for n in await _inbox(caller, recipient)]


async def test_a_case_lifecycle_reaches_the_right_recipients_and_nobody_else(
    settings, as_bureau
):
    operator = as_bureau(OPERATOR)
    launched = S.SpecialActionLaunched(
        action_id="A-1", lead_bureau="ipb-gd", participating_bureaus=["amr-sz"]
    )
    produce_envelopes(settings, CASES, [fact(launched, "A-1")])
    # The launch first: the enrolment on another partition must find the action known.
    await eventually(lambda: _has(operator, "amr-sz", 1))
    produce_envelopes(settings, CASES, [env for spec, env in _lifecycle() if spec is CASES])
    produce_envelopes(settings, CREDIT, [env for spec, env in _lifecycle() if spec is CREDIT])
    await eventually(lambda: _has(operator, "mof", 1))
    await eventually(lambda: _has(operator, "ipb-gd", 3))

    expected = {
        "ipb-sz": ["CaseFiled", "CaseEnrolled", "CaseDecided"],
        "ipb-gd": ["SpecialActionLaunched", "CaseEnrolled", "CaseDecided"],
        "amr-sz": ["SpecialActionLaunched", "CaseEnrolled", "CaseDecided"],
        RIGHT_HOLDER: ["CaseDecided"],
        "cnipa": ["SeriousDishonestyListed"],
        "ndrc": ["SeriousDishonestyListed"],
        "mof": ["SeriousDishonestyListed"],
    }
    for recipient, types in expected.items():
        inbox = await _inbox(operator, recipient)
        assert sorted(n.record.source_event_type for n in inbox) == sorted(types), recipient
        # Gap-free from 1, each notification with its reason and a stable id.
        assert [n.record.sequence for n in inbox] == list(range(1, len(types) + 1))
        assert all(n.record.reason and n.record.notification_id for n in inbox)
    reasons = {n.record.reason for n in await _inbox(operator, RIGHT_HOLDER)}
    assert reasons == {"right-holder"}
    for nobody in ("customs-gz", "psb-sz", "monitor-cnipa", "amr-sh"):
        assert await _types(operator, nobody) == [], nobody


async def _has(caller, recipient: str, count: int) -> bool:
    try:
        return len(await _inbox(caller, recipient)) >= count
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.UNAVAILABLE:  # a rebuild after the assignment
            raise
        return False
