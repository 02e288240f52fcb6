"""Intake's Kafka path against the real broker: submissions, rejections, dead letters,
redelivery, special actions, fast-track with the injected clock, rebuild from the log."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from ipcoord.intake.domain import Meta, case_id_for, evolve
from ipcoord.intake.state import IntakeState
from ipcoord.platform import codec
from ipcoord.platform.topics import (
    CASES,
    CREDIT,
    DEADLETTER,
    INTAKE_CONTROL,
    INTAKE_SUBMISSIONS,
)
from ipcoord.v1 import common_pb2, credit_pb2, envelope_pb2
from ipcoord.v1 import intake_pb2 as S
from support.kafka import eventually, produce, produce_envelopes, read_envelopes, read_topic
from support.reports import RIGHT_HOLDER, report, uscc


def _submission(bureau: str, rpt) -> codec.Envelope:
    return codec.envelope(rpt, producer_bureau=bureau, subject_key=f"{bureau}/{rpt.external_ref}")


def _types(envs) -> list[str]:
    return [e.event_type.removeprefix("ipcoord.v1.") for e in envs]


def _unique(envs) -> list[codec.Envelope]:
    """What a consumer keeps: repeats of an event id (a redelivered command's facts) dropped."""
    return list({e.event_id: e for e in envs}.values())


async def test_kafka_submissions_idempotent_across_paths_rejections_and_dead_letters(
    settings, intake, as_bureau
):
    good = _submission("ipb-sz", report("K-1", respondent_uscc=uscc(11)))
    retry = _submission("ipb-sz", report("K-1", respondent_uscc=uscc(11)))  # new event id
    invalid = _submission("ipb-sz", report("K-2", respondent_uscc="12345"))
    unknown = _submission("nowhere", report("K-3", respondent_uscc=uscc(12)))
    produce_envelopes(settings, INTAKE_SUBMISSIONS, [good, retry, good, invalid, unknown])
    produce(settings, INTAKE_SUBMISSIONS, [(b"junk", b"\x0a\xff\xff garbage")])
    case_id = case_id_for("ipb-sz", "K-1")
    await eventually(lambda: intake.state.cases.get(case_id))
    # And once more over gRPC: same case, nothing new published.
    again = await as_bureau("ipb-sz").SubmitReport(
        S.SubmitReportRequest(report=report("K-1", respondent_uscc=uscc(11)))
    )
    assert again.case_id == case_id and again.duplicate

    facts = await eventually(
        lambda: (
            [
                e
                for e in read_envelopes(settings, CASES)
                if e.WhichOneof("body") == "submission_rejected"
            ]
            and read_envelopes(settings, CASES)
        )
    )
    # `good` was delivered twice: its facts twice, under the same event ids.
    assert _types(facts).count("CaseFiled") == 2
    assert _types(_unique(facts)).count("CaseFiled") == 1
    rejected = {
        codec.body_of(e).external_ref: codec.body_of(e)
        for e in facts
        if e.WhichOneof("body") == "submission_rejected"
    }
    assert set(rejected) == {"K-2", "K-3"}
    assert "respondents[0].entity.uscc" in {v.field for v in rejected["K-2"].violations}
    assert any("unknown bureau 'nowhere'" in v.description for v in rejected["K-3"].violations)
    k2 = next(
        e
        for e in facts
        if e.WhichOneof("body") == "submission_rejected" and codec.body_of(e).external_ref == "K-2"
    )
    assert k2.subject_key == "ipb-sz/K-2" and k2.causation_id == invalid.event_id

    letters = await eventually(lambda: read_topic(settings, DEADLETTER))
    letter = envelope_pb2.DeadLetter.FromString(letters[0].value)
    assert letter.original_value == b"\x0a\xff\xff garbage"
    assert letter.error_class == "DecodeError" and letter.rejected_by == "intake"


async def test_redelivered_command_repeats_its_facts_with_the_same_ids(settings, intake):
    env = _submission("ipb-sz", report("RD-1", respondent_uscc=uscc(21)))
    produce_envelopes(settings, INTAKE_SUBMISSIONS, [env])
    case_id = case_id_for("ipb-sz", "RD-1")
    await eventually(lambda: intake.state.cases.get(case_id))
    accept = S.IntakeCommand(accept_case=S.AcceptCase(case_id=case_id))
    accept_env = codec.envelope(accept, producer_bureau="ipb-sz", subject_key=case_id)
    # The same records delivered again, as after a crash before the offset commit; then a
    # sentinel, whose fact says that everything before it was handled.
    sentinel = _submission("ipb-sz", report("RD-2", respondent_uscc=uscc(22)))
    produce_envelopes(settings, INTAKE_SUBMISSIONS, [accept_env, accept_env, env, sentinel])
    sentinel_case = case_id_for("ipb-sz", "RD-2")

    def facts_up_to_the_sentinel():
        found = read_envelopes(settings, CASES)
        return found if any(e.subject_key == sentinel_case for e in found) else None

    facts = await eventually(facts_up_to_the_sentinel)
    ours = [e for e in facts if e.subject_key == case_id]
    # Each redelivery published its facts again under the same event ids: after dropping
    # repeats by event id, one filing and one acceptance (no CaseCommandRejected, no refile).
    assert _types(_unique(ours)) == ["CaseFiled", "CaseAccepted"]
    assert len(ours) == 4  # filed, accepted, accepted again, filed again
    assert all(e.causation_id in (env.event_id, accept_env.event_id) for e in ours)
    assert intake.state.cases[case_id].status == S.CASE_STATUS_ACCEPTED


async def test_special_action_with_three_bureaus(as_bureau, intake, clock):
    lead, gd, amr = as_bureau("ipb-sz"), as_bureau("ipb-gd"), as_bureau("amr-sz")
    launch = S.LaunchSpecialAction(
        action_id="sword-2026",
        title="Sword Net 2026",
        participating_bureaus=["ipb-gd", "amr-sz"],
        criteria=S.ActionCriteria(
            infringement_types=[common_pb2.INFRINGEMENT_TYPE_TRADEMARK], division_prefixes=["44"]
        ),
    )
    launch.starts_at.FromDatetime(clock.now() - timedelta(days=1))
    launch.ends_at.FromDatetime(clock.now() + timedelta(days=60))
    progress = await lead.LaunchSpecialAction(launch)
    assert list(progress.participating_bureaus) == ["ipb-sz"]
    await gd.JoinSpecialAction(S.JoinSpecialAction(action_id="sword-2026"))
    await amr.JoinSpecialAction(S.JoinSpecialAction(action_id="sword-2026"))

    auto = await gd.SubmitReport(
        S.SubmitReportRequest(report=report("GD-1", respondent_uscc=uscc(31)))
    )
    outside = await gd.SubmitReport(
        S.SubmitReportRequest(report=report("GD-2", respondent_uscc=uscc(32), division="310000"))
    )
    manual = await amr.SubmitReport(
        S.SubmitReportRequest(
            report=report(
                "AMR-1", respondent_uscc=uscc(33), kind=common_pb2.INFRINGEMENT_TYPE_PATENT
            )
        )
    )
    await amr.EnrollCases(S.EnrollCases(action_id="sword-2026", case_ids=[manual.case_id]))
    await amr.AcceptCase(S.AcceptCase(case_id=manual.case_id))
    lead_case = await lead.SubmitReport(
        S.SubmitReportRequest(report=report("SZ-1", respondent_uscc=uscc(34), action="sword-2026"))
    )

    progress = await amr.GetActionProgress(S.GetActionProgressRequest(action_id="sword-2026"))
    counts = {b.bureau: dict(b.cases_by_status) for b in progress.bureaus}
    assert counts == {
        "ipb-gd": {"CASE_STATUS_FILED": 1},
        "amr-sz": {"CASE_STATUS_ACCEPTED": 1},
        "ipb-sz": {"CASE_STATUS_FILED": 1},
    }
    assert progress.total_cases == 3
    listed = await lead.ListCases(S.ListCasesRequest(action_id="sword-2026"))
    assert {c.case_id for c in listed.cases} == {auto.case_id, manual.case_id, lead_case.case_id}
    assert outside.case_id not in {c.case_id for c in listed.cases}
    view = await gd.GetCase(S.GetCaseRequest(case_id=auto.case_id))
    assert set(view.participating_bureaus) == {"ipb-sz", "ipb-gd", "amr-sz"}

    import grpc
    import pytest

    with pytest.raises(grpc.aio.AioRpcError) as not_lead:
        await gd.ConcludeSpecialAction(S.ConcludeSpecialAction(action_id="sword-2026"))
    assert not_lead.value.code() == grpc.StatusCode.PERMISSION_DENIED
    final = await lead.ConcludeSpecialAction(
        S.ConcludeSpecialAction(action_id="sword-2026", summary="3 cases")
    )
    assert final.concluded and final.total_cases == 3


async def test_fast_track_deadline_passes_with_injected_clock_and_listing_stops_it(
    settings, intake, as_bureau, clock
):
    center = as_bureau("ppc-shenzhen")
    await center.RegisterTargetEnterprise(
        S.RegisterTargetEnterprise(enterprise={"uscc": RIGHT_HOLDER, "name": "Right Holder Ltd."})
    )
    fast = await center.SubmitReport(
        S.SubmitReportRequest(report=report("PPC-1", respondent_uscc=uscc(41)))
    )
    view = await center.GetCase(S.GetCaseRequest(case_id=fast.case_id))
    assert view.fast_tracked and {d.name for d in view.deadlines} == {"accept", "decide"}

    await intake.tick()  # deadlines not yet passed: nothing happens
    clock.advance(timedelta(days=5))  # Monday + 5 days: two working days have passed
    await intake.tick()
    overdue = await eventually(lambda: intake.state.cases[fast.case_id].overdue)
    assert overdue == ["accept"]
    third = await intake.tick()  # escalated once, not on every tick
    await eventually(lambda: intake.handled(third))
    facts = read_envelopes(settings, CASES)
    assert _types(facts).count("CaseOverdue") == 1

    # The credit service lists the right holder: no fast-track while listed.
    listing = credit_pb2.SeriousDishonestyListed(listing_id="L-1", entity={"uscc": RIGHT_HOLDER})
    produce_envelopes(
        settings,
        CREDIT,
        [codec.envelope(listing, producer_bureau="cnipa", subject_key=RIGHT_HOLDER)],
    )
    await eventually(lambda: intake.matcher_state.listed.get(RIGHT_HOLDER))
    slow = await center.SubmitReport(
        S.SubmitReportRequest(report=report("PPC-2", respondent_uscc=uscc(42)))
    )
    assert not (await center.GetCase(S.GetCaseRequest(case_id=slow.case_id))).fast_tracked
    removed = credit_pb2.ListingRemoved(listing_id="L-1", entity={"uscc": RIGHT_HOLDER})
    produce_envelopes(
        settings,
        CREDIT,
        [codec.envelope(removed, producer_bureau="cnipa", subject_key=RIGHT_HOLDER)],
    )
    await eventually(lambda: not intake.matcher_state.listed.get(RIGHT_HOLDER))
    again = await center.SubmitReport(
        S.SubmitReportRequest(report=report("PPC-3", respondent_uscc=uscc(43)))
    )
    assert (await center.GetCase(S.GetCaseRequest(case_id=again.case_id))).fast_tracked


async def test_state_rebuilt_from_the_log_equals_live_state(settings, intake, as_bureau):
    ipb = as_bureau("ipb-sz")
    for i in range(6):
        await ipb.SubmitReport(
            S.SubmitReportRequest(
                report=report(f"RB-{i}", respondent_uscc=uscc(50 + i % 3), seller=f"sel-{i}")
            )
        )
    first = intake.matcher_state.submissions["ipb-sz/RB-0"].case_id
    await ipb.AcceptCase(S.AcceptCase(case_id=first))
    await ipb.IdentifyRespondent(
        S.IdentifyRespondent(
            online_identifier={"platform": "taobao", "seller_id": "sel-1"},
            entity={"uscc": uscc(60)},
        )
    )
    # Each call returned after its facts were acknowledged: the topic holds them all.

    rebuilt = IntakeState()
    for env in read_envelopes(settings, CASES) + [
        e
        for e in read_envelopes(settings, INTAKE_CONTROL)
        if e.WhichOneof("body") in ("serious_dishonesty_listed", "listing_removed")
    ]:
        evolve(
            rebuilt,
            codec.body_of(env),
            Meta(env.event_id, codec.occurred_at(env), env.producer_bureau),
        )
    for name in (f.name for f in dataclasses.fields(IntakeState)):
        live = dict(getattr(intake.state, name).items())
        assert live == dict(getattr(rebuilt, name)), name
    assert len(rebuilt.cases) == 3  # RB-3..5 were linked to RB-0..2 by USCC


async def test_callers_trace_context_reaches_the_command_and_its_facts(settings, channel):
    from ipcoord.platform.ids import new_traceparent, trace_id_of
    from ipcoord.v1 import intake_pb2_grpc

    stub = intake_pb2_grpc.CaseIntakeStub(channel)
    parent = new_traceparent()
    metadata = (("x-ipcoord-bureau", "ipb-sz"), ("traceparent", parent))
    filed = await stub.SubmitReport(
        S.SubmitReportRequest(report=report("TR-1", respondent_uscc=uscc(70))), metadata=metadata
    )
    records = await eventually(lambda: read_topic(settings, CASES, timeout_s=1.0))
    [fact] = [r for r in records if r.key == filed.case_id.encode()]
    headers = dict(fact.headers)
    assert headers["ipcoord-event-type"] == b"ipcoord.v1.CaseFiled"
    assert trace_id_of(headers["traceparent"].decode()) == trace_id_of(parent)
    [command] = read_topic(settings, INTAKE_SUBMISSIONS, timeout_s=1.0)
    assert trace_id_of(dict(command.headers)["traceparent"].decode()) == trace_id_of(parent)


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
async def test_a_restarted_service_recovers_its_tables_and_stays_idempotent(settings, clock, store):
    """memory: tables come back from their changelogs; rocksdb: from local disk plus the
    changelog past the last local offset."""
    settings = settings.model_copy(update={"store": store})
    import grpc
    from ipcoord.intake.main import build
    from ipcoord.v1 import intake_pb2_grpc

    async def submit(service, ref: str) -> S.SubmitReportResponse:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
            return await intake_pb2_grpc.CaseIntakeStub(channel).SubmitReport(
                S.SubmitReportRequest(report=report(ref, respondent_uscc=uscc(95))),
                metadata=(("x-ipcoord-bureau", "ipb-sz"),),
                timeout=30,
            )

    first = await build(settings, clock=clock, tick_interval_s=3600)
    await first.handle.start()
    filed = await submit(first, "RS-1")
    await first.handle.stop()

    second = await build(settings, clock=clock, tick_interval_s=3600)
    await second.handle.start()  # ready = tables recovered from their changelogs
    try:
        assert second.state.cases[filed.case_id].status == S.CASE_STATUS_FILED
        again = await submit(second, "RS-1")
        assert again.case_id == filed.case_id and again.duplicate
        linked = await submit(second, "RS-2")  # same respondent: source tracing still works
        assert linked.outcome == S.SUBMISSION_OUTCOME_LINKED and linked.case_id == filed.case_id
    finally:
        await second.handle.stop()
    assert _types(read_envelopes(settings, CASES)) == ["CaseFiled", "ReportLinked"]


async def test_bad_commands_on_the_log_are_answered_not_dropped(settings, intake):
    env = _submission("ipb-sz", report("BC-1", respondent_uscc=uscc(96)))
    produce_envelopes(settings, INTAKE_SUBMISSIONS, [env])
    case_id = case_id_for("ipb-sz", "BC-1")
    await eventually(lambda: intake.state.cases.get(case_id))

    illegal = codec.envelope(
        S.IntakeCommand(close_case=S.CloseCase(case_id=case_id)),
        producer_bureau="ipb-sz",
        subject_key=case_id,
    )
    foreign = codec.envelope(
        S.IntakeCommand(accept_case=S.AcceptCase(case_id=case_id)),
        producer_bureau="amr-sz",
        subject_key=case_id,
    )
    empty = codec.envelope(S.IntakeCommand(), producer_bureau="ipb-sz", subject_key=case_id)
    oversized = _submission("ipb-sz", report("BC-2", respondent_uscc=uscc(97)))
    oversized.report_submitted.description = "x" * 1_000_100  # over IPCOORD_MAX_MESSAGE_BYTES
    produce_envelopes(settings, INTAKE_SUBMISSIONS, [illegal, foreign, empty, oversized])

    def rejections():
        return {
            e.causation_id: codec.body_of(e)
            for e in read_envelopes(settings, CASES, 1.0)
            if e.WhichOneof("body") == "case_command_rejected"
        }

    rejected = await eventually(lambda: len(rejections()) == 2 and rejections())
    assert rejected[illegal.event_id].command == "CloseCase"
    # The refusal names the domain's code, not a gRPC status: Kafka readers have no gRPC.
    assert rejected[illegal.event_id].code == common_pb2.REFUSAL_CODE_ILLEGAL_TRANSITION
    assert rejected[illegal.event_id].reason.startswith("CloseCase is not")
    assert rejected[foreign.event_id].code == common_pb2.REFUSAL_CODE_NOT_PERMITTED
    assert rejected[foreign.event_id].actor_bureau == "amr-sz"

    letters = await eventually(
        lambda: (
            len(read_topic(settings, DEADLETTER, 1.0)) == 2
            and read_topic(settings, DEADLETTER, 1.0)
        )
    )
    by_class = {
        envelope_pb2.DeadLetter.FromString(r.value).error_class: envelope_pb2.DeadLetter.FromString(
            r.value
        )
        for r in letters
    }
    assert by_class["ValidationError"].original_event_id == empty.event_id
    assert "no command" in by_class["ValidationError"].reason
    too_big = by_class["Oversized"]
    assert "over the 1000000-byte limit" in too_big.reason
    assert too_big.original_truncated and too_big.original_size > 1_000_000
    assert too_big.original_event_id == oversized.event_id  # the sender finds its own
    assert intake.state.cases[case_id].status == S.CASE_STATUS_FILED


async def test_system_commands_from_the_submissions_topic_are_refused(
    settings, intake, as_bureau, clock
):
    """Anyone who can write the submissions topic could otherwise escalate every watched case
    (a tick from 2099) or switch off a competitor's fast-track (a forged listing)."""
    center = as_bureau("ppc-shenzhen")
    await center.RegisterTargetEnterprise(
        S.RegisterTargetEnterprise(enterprise={"uscc": RIGHT_HOLDER, "name": "Right Holder Ltd."})
    )
    fast = await center.SubmitReport(
        S.SubmitReportRequest(report=report("SYS-1", respondent_uscc=uscc(98)))
    )
    forged_tick = S.IntakeCommand()
    forged_tick.check_deadlines.now.FromDatetime(clock.now() + timedelta(days=365 * 70))
    forged_listing = credit_pb2.SeriousDishonestyListed(
        listing_id="L-FORGED", entity={"uscc": RIGHT_HOLDER}
    )
    forged = [
        codec.envelope(forged_tick, producer_bureau="ipcoord-intake", subject_key="clock"),
        codec.envelope(forged_listing, producer_bureau="cnipa", subject_key=RIGHT_HOLDER),
    ]
    produce_envelopes(settings, INTAKE_SUBMISSIONS, forged)

    letters = await eventually(
        lambda: (
            len(found := read_topic(settings, DEADLETTER, 1.0)) == 2
            and [envelope_pb2.DeadLetter.FromString(r.value) for r in found]
        )
    )
    by_event = {letter.original_event_id: letter for letter in letters}
    tick_letter = by_event[forged[0].event_id]
    assert tick_letter.error_class == "ForbiddenSystemCommand"
    assert "comes only from the intake service itself" in tick_letter.reason
    assert "'ipcoord-intake'" in tick_letter.reason  # the declared producer, for operators
    assert by_event[forged[1].event_id].error_class == "ForbiddenSystemCommand"
    # Neither took effect: no escalation, still fast-tracked for the next report.
    assert intake.state.cases[fast.case_id].overdue == []
    assert not intake.matcher_state.listed.get(RIGHT_HOLDER)
    # The service's own clock still works, through its control topic.
    clock.advance(timedelta(days=5))
    await intake.tick()
    assert await eventually(lambda: intake.state.cases[fast.case_id].overdue) == ["accept"]


async def test_a_bureau_systems_case_command_reaches_its_cases_writer_whatever_its_key(
    settings, intake
):
    """On the submissions topic a bureau system keys a command as it likes; the matcher hands
    it to the case's writer, on the case's partition."""
    filing = _submission("ipb-sz", report("KEY-1", respondent_uscc=uscc(71)))
    produce_envelopes(settings, INTAKE_SUBMISSIONS, [filing])
    case_id = case_id_for("ipb-sz", "KEY-1")
    await eventually(lambda: case_id in intake.state.cases)
    accept = S.IntakeCommand(accept_case=S.AcceptCase(case_id=case_id))
    keyed_elsewhere = codec.envelope(accept, producer_bureau="ipb-sz", subject_key="ipb-sz/ops-7")
    produce_envelopes(settings, INTAKE_SUBMISSIONS, [keyed_elsewhere])
    await eventually(lambda: intake.state.cases[case_id].status == S.CASE_STATUS_ACCEPTED)
    assert not read_topic(settings, DEADLETTER)  # nothing dead-lettered as misrouted


async def test_a_report_sent_right_after_its_respondents_case_was_closed_files_a_new_case(
    settings, intake
):
    """A bureau system sends a case's whole history and then the respondent's next report, at
    once: the report is matched after the close, as one writer deciding both would (the
    matcher waits for the case writer's outcome of a closing command)."""
    first = case_id_for("ipb-sz", "CL-1")

    def command(body) -> codec.Envelope:
        wrapped = S.IntakeCommand()
        field = next(
            f.name
            for f in S.IntakeCommand.DESCRIPTOR.oneofs_by_name["command"].fields
            if f.message_type.full_name == body.DESCRIPTOR.full_name
        )
        getattr(wrapped, field).CopyFrom(body)
        return codec.envelope(wrapped, producer_bureau="ipb-sz", subject_key=first)

    decision = S.Decision(
        infringement_established=True, infringement_type=1, respondent_uscc=uscc(81)
    )
    history = [
        _submission("ipb-sz", report("CL-1", respondent_uscc=uscc(81))),
        command(S.AcceptCase(case_id=first)),
        command(S.AssignCase(case_id=first, assignee="officer")),
        command(S.StartInvestigation(case_id=first)),
        command(S.DecideCase(case_id=first, decision=decision)),
        command(S.CloseCase(case_id=first, reason="done")),
        _submission("ipb-sz", report("CL-2", respondent_uscc=uscc(81))),
    ]
    produce_envelopes(settings, INTAKE_SUBMISSIONS, history)
    second = case_id_for("ipb-sz", "CL-2")
    await eventually(lambda: second in intake.state.cases)
    assert intake.state.cases[first].status == S.CASE_STATUS_CLOSED
    assert intake.state.cases[first].linked_report_count == 0
