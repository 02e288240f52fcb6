"""Intake, credit records and notifications together on the real broker, through their real
topics: a bureau's submissions become cases, two established decisions list the respondent (a
right holder and a protection center's target, whose new cases lose fast-track: the closed
loop), the implementing departments hear of the listing and report back, every party's
notifications and lookups agree, and each service's state rebuilt from the log equals its live
state."""

from __future__ import annotations

import grpc
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import notifications_pb2 as N
from support.cases import decided_case, fast_tracked
from support.cli import ipcoord, json_lines
from support.kafka import eventually
from support.reports import RIGHT_HOLDER, uscc

RESPONDENT = uscc(91)


async def _types(notifications, recipient: str) -> list[str]:
    try:
        page = await notifications.ListNotifications(
            N.ListNotificationsRequest(recipient=recipient, page={"page_size": 500})
        )
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.UNAVAILABLE:
            raise
        return []
    return [n.record.source_event_type for n in reversed(page.notifications)]


async def test_submission_to_listing_to_feedback_reaches_every_party(system, settings):
    intake_as, credit_as, notifications_as = (
        system.intake_as,
        system.credit_as,
        system.notifications_as,
    )
    ipb = intake_as("ipb-sz")
    # The respondent is also a right holder, and a protection center's target enterprise.
    center = intake_as("ppc-shenzhen")
    await center.RegisterTargetEnterprise(
        S.RegisterTargetEnterprise(enterprise={"uscc": RESPONDENT})
    )
    assert await _fast_tracked(center, 0)
    operator = notifications_as("cnipa")
    # Two established infringements by one respondent: the first case closed before the
    # second report, which would otherwise be linked to it (source tracing).
    first = await decided_case(ipb, "E2E-1", respondent_uscc=RESPONDENT)
    await ipb.CloseCase(S.CloseCase(case_id=first, reason="penalty paid"))
    second = await decided_case(ipb, "E2E-2", respondent_uscc=RESPONDENT)
    assert first != second

    async def listed() -> C.CheckDisciplineResponse | None:
        answer = await credit_as("amr-sz").CheckDiscipline(
            C.CheckDisciplineRequest(uscc=RESPONDENT)
        )
        return answer if answer.applies else None

    listing = await eventually(listed, timeout_s=60)
    assert listing.listing_id == f"L-{RESPONDENT}-1"
    # The closed loop: once intake hears of the listing, the listed right holder's new cases
    # at the center are no longer fast-tracked.
    probes = iter(range(1, 100))
    await eventually(lambda: _not_fast_tracked(center, next(probes)), timeout_s=60)

    # Every implementing department hears of the listing; ndrc reports what it did.
    for department in ("cnipa", "ndrc", "mof"):
        await eventually(
            lambda d=department: _has(operator, d, "SeriousDishonestyListed"), timeout_s=60
        )
    feedback = await credit_as("ndrc").SubmitFeedback(
        C.DisciplineFeedbackSubmitted(
            listing_id=listing.listing_id,
            measure_code="NDRC-01",
            outcome=C.MEASURE_OUTCOME_APPLIED,
        )
    )
    assert [f.measure_code for f in feedback.feedback] == ["NDRC-01"]

    # The handling bureau heard its cases' whole lifecycles, the right holder both decisions.
    bureau = notifications_as("ipb-sz")
    await eventually(lambda: _has(bureau, "ipb-sz", "CaseDecided", count=2))
    handled = await _types(bureau, "ipb-sz")
    assert handled.count("CaseFiled") == 2 and handled.count("CaseDecided") == 2
    assert "CaseClosed" in handled
    await eventually(lambda: _has(operator, RIGHT_HOLDER, "CaseDecided", count=2))
    assert set(await _types(operator, RIGHT_HOLDER)) == {"CaseDecided"}
    # And a bureau with no part in any of it heard nothing.
    assert await _types(notifications_as("customs-gz"), "customs-gz") == []
    case = await ipb.GetCase(S.GetCaseRequest(case_id=second))
    assert case.status == S.CASE_STATUS_DECIDED

    # Each service's facts replayed into fresh tables equal what its tables hold.
    for service in ("intake", "credit", "notifications"):
        report = await _replayed(settings, system, service)
        assert report["facts"] > 0
        assert all(t["live_keys"] > 0 for t in report["tables"] if t["table"] in _FILLED)


# Tables the chain above fills in each service (others, e.g. related persons, stay empty).
_FILLED = {"cases", "submissions", "files", "inboxes", "notifications", "listings"}


async def _replayed(settings, system, service: str) -> dict:
    """`ipcoord replay SERVICE` once it says equal (the last facts may still be on their way
    to a table when it starts)."""

    async def equal() -> dict | None:
        result = await ipcoord(settings, system.addresses, "replay", service, "--json")
        (report,) = json_lines(result)
        return report if report["equal"] else None

    return await eventually(equal, timeout_s=30, interval_s=1)


async def _fast_tracked(center, n: int) -> bool:
    """A new report whose right holder is RESPONDENT, filed with the center."""
    return await fast_tracked(center, f"E2E-FT-{n}", uscc(300 + n), holder=RESPONDENT)


async def _not_fast_tracked(center, n: int) -> bool:
    return not await _fast_tracked(center, n)


async def _has(caller, recipient: str, event_type: str, count: int = 1) -> bool:
    return (await _types(caller, recipient)).count(event_type) >= count
