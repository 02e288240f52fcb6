"""Intake's matcher and case writers together, without a broker (support/intake_writers.py):
what goes from one to the other, what each refuses, and how a caller's reply waits for every
writer its command reached."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from ipcoord.intake import matching, replay
from ipcoord.intake.domain import case_id_for
from ipcoord.intake.keys import partition_of
from ipcoord.intake.processor import CASE_COMMANDS, MatcherLogic, intake_command
from ipcoord.intake.state_codecs import CASEWORK_TABLE_PREFIX, CODECS, SUMMARY_CODEC
from ipcoord.intake.stream import check_routed, tick
from ipcoord.platform import codec
from ipcoord.platform.ids import derived_event_id
from ipcoord.platform.topics import CASES, INTAKE_CASEWORK, INTAKE_CONTROL
from ipcoord.v1 import common_pb2
from ipcoord.v1 import intake_pb2 as S
from support.intake_writers import RULES, IntakeWriters
from support.reports import RIGHT_HOLDER, report, uscc

PARTITIONS = INTAKE_CASEWORK.partitions
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


def _submitted(ref: str, bureau: str = "ipb-sz", **made) -> codec.Envelope:
    return codec.envelope(
        report(ref, **made), producer_bureau=bureau, subject_key=f"{bureau}/{ref}", occurred_at=T0
    )


def _command(body, bureau: str = "ipb-sz", key: str = "") -> codec.Envelope:
    command = S.IntakeCommand()
    field = next(
        f.name
        for f in S.IntakeCommand.DESCRIPTOR.oneofs_by_name["command"].fields
        if f.message_type.full_name == body.DESCRIPTOR.full_name
    )
    getattr(command, field).CopyFrom(body)
    return codec.envelope(command, producer_bureau=bureau, subject_key=key, occurred_at=T0)


def _replies(writers: IntakeWriters, command: codec.Envelope) -> list:
    return sorted(
        (r for _, r in writers.replies if r.command_event_id == command.event_id),
        key=lambda r: r.part,
    )


def _patents_action() -> codec.Envelope:
    """Special action A-1, for patents only: the trademark cases of these tests are enrolled
    by hand, not on filing."""
    launch = S.LaunchSpecialAction(
        action_id="A-1",
        title="action",
        criteria=S.ActionCriteria(infringement_types=[common_pb2.INFRINGEMENT_TYPE_PATENT]),
    )
    launch.starts_at.FromDatetime(T0 - timedelta(days=1))
    launch.ends_at.FromDatetime(T0 + timedelta(days=30))
    return _command(launch, key="A-1")


@pytest.fixture
def writers(tmp_path) -> IntakeWriters:
    return IntakeWriters({}, tmp_path)


async def test_the_case_writer_publishes_the_matchers_facts_as_it_made_them(writers):
    submission = _submitted("W-1", respondent_uscc=uscc(1))
    await writers.submit(submission, 0)
    [filed] = writers.published
    # The contract with bureaus: a submission's fact carries its event id as causation.
    assert filed.event_type == "ipcoord.v1.CaseFiled"
    assert filed.causation_id == submission.event_id
    assert filed.event_id == derived_event_id(submission.event_id, 0)
    case_id = case_id_for("ipb-sz", "W-1")
    # The whole case with its writer, the summary with the matcher.
    assert writers.state.cases[case_id].report.external_ref == "W-1"
    summary = SUMMARY_CODEC.decode(writers.tables["matcher"]["cases"][case_id])
    assert summary.match_keys and not summary.report.external_ref


async def test_a_case_its_writer_closed_takes_no_more_reports(writers):
    await writers.submit(_submitted("W-1", respondent_uscc=uscc(1)), 0)
    case_id = case_id_for("ipb-sz", "W-1")
    reject = _command(S.RejectCase(case_id=case_id, reason="not ours"), key=case_id)
    await writers.to_case_writers(reject, reply_to="replica-a")
    # The writer's answer and the matcher's acknowledgement that it knows.
    answer, known = _replies(writers, reject)
    assert (answer.parts, known.part) == (2, 1)
    assert writers.matcher_state.cases[case_id].status not in (S.CASE_STATUS_FILED,)
    await writers.submit(_submitted("W-2", respondent_uscc=uscc(1)), 1)
    assert writers.facts()[-1] == "ipcoord.v1.CaseFiled"  # a new case, not linked


async def test_a_report_on_the_same_respondent_joins_its_case_on_the_cases_partition(writers):
    await writers.submit(_submitted("W-1", respondent_uscc=uscc(1)), 0)
    linked = _submitted("W-2", bureau="monitor-cnipa", respondent_uscc=uscc(1), handling="ipb-sz")
    await writers.submit(linked, 1, reply_to="replica-a")
    case_id = case_id_for("ipb-sz", "W-1")
    assert writers.facts()[-1] == "ipcoord.v1.ReportLinked"
    assert writers.state.cases[case_id].linked_reports == ["monitor-cnipa/W-2"]
    answer, applied = _replies(writers, linked)
    result = S.SubmitReportResponse()
    answer.result.Unpack(result)
    assert result.case_id == case_id and result.outcome == S.SUBMISSION_OUTCOME_LINKED
    assert (applied.part, applied.parts) == (1, 2)


async def test_a_replica_taking_a_partition_over_counts_a_linked_report_once(tmp_path):
    # The first replica's journal stays with it: the one that takes the case's partition over
    # gets its uncommitted records again and must know from the tables what is applied.
    tables: dict = {}
    first = IntakeWriters(tables, tmp_path / "first")
    await first.submit(_submitted("W-1", respondent_uscc=uscc(1)), 0)
    linking = _submitted("W-2", bureau="monitor-cnipa", respondent_uscc=uscc(1), handling="ipb-sz")
    await first.submit(linking, 1)
    case_id = case_id_for("ipb-sz", "W-1")
    [(_, partition, linked)] = [
        (t, p, env)
        for t, p, env in first.delivered
        if env.HasField("case_work") and b"ReportLinked" in env.case_work.fact
    ]
    first.close(clean=False)  # kill -9, the link's offset not committed
    second = IntakeWriters(tables, tmp_path / "second")
    await second.to_case_writers(linked, partition=partition)
    case = second.state.cases[case_id]
    assert case.linked_report_count == 1 and case.linked_reports == ["monitor-cnipa/W-2"]
    assert second.facts() == ["ipcoord.v1.ReportLinked"]  # published again, same id
    # The case's changelog record reached the broker, the reference's did not: the case's
    # own record says the link is applied.
    tables["casework"]["submissions"][partition].pop("monitor-cnipa/W-2")
    second.close(clean=False)
    third = IntakeWriters(tables, tmp_path / "third")
    await third.to_case_writers(linked, partition=partition)
    assert third.state.cases[case_id].linked_report_count == 1


async def test_a_tick_checks_the_cases_of_its_partition_only(writers):
    center = "ppc-shenzhen"
    register = _command(
        S.RegisterTargetEnterprise(enterprise={"uscc": RIGHT_HOLDER, "name": "Holder"}),
        bureau=center,
        key=RIGHT_HOLDER,
    )
    await writers.submit(register, 0)
    by_partition: dict[int, str] = {}
    for n in range(1, 40):
        if len(by_partition) == 2:
            break
        await writers.submit(_submitted(f"F-{n}", bureau=center, respondent_uscc=uscc(n)), n)
        case_id = case_id_for(center, f"F-{n}")
        by_partition.setdefault(partition_of(case_id, PARTITIONS), case_id)
    (first, one), (_, other) = sorted(by_partition.items())
    assert writers.state.cases[one].deadlines and writers.state.cases[other].deadlines
    await writers.to_case_writers(tick(first, T0 + timedelta(days=30)), partition=first)
    overdue = [e.case_overdue.case_id for e in writers.published if e.HasField("case_overdue")]
    assert set(overdue) == {one}  # the other partition's case waits for its own tick


async def test_an_identification_reaches_every_partition_before_its_caller_is_answered(writers):
    await writers.submit(_submitted("W-1", seller="s-1"), 0)
    identify = _command(
        S.IdentifyRespondent(
            online_identifier={"platform": "taobao", "seller_id": "s-1"},
            entity={"uscc": uscc(7)},
        ),
        key="seller:taobao/s-1",
    )
    await writers.submit(identify, 1, reply_to="replica-a")
    assert writers.facts().count("ipcoord.v1.RespondentIdentified") == 1  # published once
    assert writers.state.identities  # and kept by every case partition
    replies = _replies(writers, identify)
    assert [r.part for r in replies] == list(range(1 + PARTITIONS))
    assert {r.parts for r in replies} == {1 + PARTITIONS}


async def test_a_partition_behind_leaves_the_others_copies_of_an_identification_whole(writers):
    # Each partition reads its own copy: a value another partition read (here: none yet, for
    # a partition that lags behind, after the replica's caches were dropped) is not theirs.
    late = _submitted("W-1", seller="s-1")
    behind = partition_of(case_id_for("ipb-sz", "W-1"), PARTITIONS)
    writers.hold(behind)
    await writers.submit(late, 0)
    await writers.submit(_identified("s-1", uscc(1)), 1)
    writers.case_writer.tables_changed()  # an assignment: caches dropped
    await writers.release(behind, 1)  # its filing read the identities: none yet there
    await writers.submit(_identified("s-1", uscc(2)), 2)
    [key] = matching.online_keys(common_pb2.OnlineIdentifier(platform="taobao", seller_id="s-1"))
    copies = writers.tables["casework"]["identities"]
    for partition in set(range(PARTITIONS)) - {behind}:
        assert CODECS["identities"].decode(copies[partition][key]) == sorted([uscc(1), uscc(2)])


def _identified(seller: str, entity: str) -> codec.Envelope:
    body = S.IdentifyRespondent(
        online_identifier={"platform": "taobao", "seller_id": seller}, entity={"uscc": entity}
    )
    return _command(body, key=f"seller:{seller}")


async def test_an_enrolment_is_answered_once_each_cases_partition_applied_it(writers):
    await writers.submit(_patents_action(), 0)
    cases, n = {}, 0
    while len(cases) < 2:
        n += 1
        await writers.submit(_submitted(f"E-{n}", respondent_uscc=uscc(n)), n)
        case_id = case_id_for("ipb-sz", f"E-{n}")
        cases.setdefault(partition_of(case_id, PARTITIONS), case_id)
    enrol = _command(S.EnrollCases(action_id="A-1", case_ids=list(cases.values())), key="A-1")
    await writers.submit(enrol, n + 1, reply_to="replica-a")
    assert [r.part for r in _replies(writers, enrol)] == [0, 1, 2]
    for case_id in cases.values():
        assert writers.state.cases[case_id].action_ids == ["A-1"]


@pytest.mark.parametrize(
    "forged",
    [
        S.CaseWork(fact=b""),
        S.CaseAccepted(case_id="c-1", by_bureau="ipb-sz"),
        S.IntakeCommand(check_deadlines=S.CheckDeadlines()),
    ],
    ids=["case-work", "a-case-fact", "a-tick"],
)
def test_what_only_intake_writes_is_refused_from_the_submissions_topic(forged):
    env = codec.envelope(forged, producer_bureau="ipb-sz", subject_key="c-1")
    with pytest.raises(codec.InvalidEnvelope) as refused:
        MatcherLogic(RULES).command_of(env, system=False)
    assert refused.value.error_class == "ForbiddenSystemCommand"


def test_a_case_record_on_another_partition_than_its_cases_is_refused():
    case_id = case_id_for("ipb-sz", "W-1")
    accept = _command(S.AcceptCase(case_id=case_id), key=case_id)
    home = partition_of(case_id, PARTITIONS)
    check_routed(accept, home)
    with pytest.raises(codec.InvalidEnvelope) as refused:
        check_routed(accept, (home + 1) % PARTITIONS)
    assert refused.value.error_class == "MisroutedCommand"
    with pytest.raises(codec.InvalidEnvelope):
        check_routed(tick(2), 3)


# Any sequence of commands through both writers: the tables of each, rebuilt from what they
# published on ipcoord.cases.v1 (`ipcoord replay intake`), read in log order and regrouped by
# partition, are the live ones.
_KINDS = ("submit", "accept", "assign", "reject", "transfer", "identify", "close", "enrol")
_commands = st.lists(
    st.tuples(st.sampled_from(_KINDS), st.integers(0, 4), st.integers(0, 3)), max_size=20
)


def _random_command(kind: str, i: int, j: int) -> codec.Envelope:
    case = case_id_for("ipb-sz", f"R{i}")
    match kind:
        case "submit":
            return _submitted(f"R{i}", respondent_uscc=uscc(j), seller=f"s{i}")
        case "accept":
            return _command(S.AcceptCase(case_id=case), key=case)
        case "assign":
            return _command(S.AssignCase(case_id=case, assignee=f"a{j}"), key=case)
        case "reject":
            return _command(S.RejectCase(case_id=case, reason="r"), key=case)
        case "transfer":
            return _command(S.TransferCase(case_id=case, to_bureau="amr-sz"), key=case)
        case "close":
            return _command(S.CloseCase(case_id=case, reason="done"), key=case)
        case "enrol":
            return _command(S.EnrollCases(action_id="A-1", case_ids=[case]), key="A-1")
    identify = S.IdentifyRespondent(
        online_identifier={"platform": "taobao", "seller_id": f"s{i}"}, entity={"uscc": uscc(j)}
    )
    return _command(identify, key=f"s{i}")


@given(_commands)
@hypothesis_settings(max_examples=40, deadline=None)
def test_both_writers_tables_are_what_a_replay_of_their_facts_rebuilds(tmp_path_factory, commands):
    asyncio.run(_replay_rebuilds_both_writers(tmp_path_factory.mktemp("writers"), commands))


async def _replay_rebuilds_both_writers(directory, commands) -> None:
    writers = IntakeWriters({}, directory)
    await writers.submit(_patents_action(), 0)
    for offset, (kind, i, j) in enumerate(commands, start=1):
        env = _random_command(kind, i, j)
        if intake_command(env) and intake_command(env)[0] in CASE_COMMANDS:
            await writers.to_case_writers(env)
        else:
            await writers.submit(env, offset)
    writers.close(clean=True)
    live = {name: dict(values) for name, values in writers.tables["matcher"].items()}
    for name, partitions in writers.tables["casework"].items():
        table = f"{CASEWORK_TABLE_PREFIX}{name}"
        live[table] = {  # as `ipcoord replay` reads the changelogs (platform/replay.py)
            f"{p}/{key}" if table in replay.PER_PARTITION else key: value
            for p, values in partitions.items()
            for key, value in values.items()
        }
    facts = writers.published
    by_partition = sorted(facts, key=lambda e: partition_of(e.subject_key, PARTITIONS))
    for log in (facts, by_partition):
        tables = replay.rebuilt_tables({CASES.name: log, INTAKE_CONTROL.name: []})
        rebuilt = {
            name: {key: replay.STORED[name].encode(value) for key, value in values.items()}
            for name, values in tables.items()
        }
        assert {n: v for n, v in rebuilt.items() if v} == {n: v for n, v in live.items() if v}
