"""What each of intake's tables stores: its value in the domain (state.py, caseset.py) <-> the
protobuf message declared for it in protos/ipcoord/v1/intake_state.proto.

Intake has two writers, each with its own tables (docs/intake.md, "Two writers"):
MATCHER_CODECS and CASEWORK_CODECS, by field of IntakeState, are what main.py registers as
each Faust table's serializer and what each processor journals a command's table writes with.
The matcher's ``cases`` hold each case's summary (what filing, enrolment and the indexes read);
the case writers' hold the whole case. CODECS is every field's codec with the whole case (a
state rebuilt from the log, tests). (intake_state.proto still declares the case-set and
progress-count records those indexes were stored as until 2026-11-26; nothing reads them.)"""

from __future__ import annotations

from datetime import datetime

from ipcoord.intake.state import Action, Case, HistoryEntry, Link, Submission
from ipcoord.platform.table_codec import TableCodec, time_of, timestamp
from ipcoord.v1 import intake_state_pb2 as R

# ------------------------------------------------------------------------------- cases


def _summary_record(case: Case) -> R.CaseRecord:
    """What the matcher keeps of a case: its standing, its keys, its links and enrolments (a
    few hundred bytes; the report, history and evidence stay with the case's writer)."""
    return R.CaseRecord(
        case_id=case.case_id,
        status=case.status,
        submitting_bureau=case.submitting_bureau,
        handling_bureau=case.handling_bureau,
        filed_at=timestamp(case.filed_at),
        match_keys=case.match_keys,
        action_ids=case.action_ids,
        links=[
            R.CaseLinkRecord(case_id=k.case_id, basis=k.basis, match_key=k.match_key)
            for k in case.links
        ],
    )


def _case_record(case: Case) -> R.CaseRecord:
    """The whole case: its summary and the rest."""
    record = _summary_record(case)
    record.report.CopyFrom(case.report)
    record.linked_reports.extend(case.linked_reports)
    record.linked_report_count = case.linked_report_count
    record.history.extend(
        R.CaseHistoryRecord(
            event_id=h.event_id,
            event_type=h.event_type,
            at=timestamp(h.at),
            bureau=h.bureau,
            summary=h.summary,
        )
        for h in case.history
    )
    if case.decision is not None:  # else absent
        record.decision.CopyFrom(case.decision)
    record.assignee = case.assignee
    record.evidence.extend(case.evidence)
    record.fast_track_center = case.fast_track_center
    record.deadlines.extend(_named_times(case.deadlines))
    record.overdue.extend(case.overdue)
    return record


def _case(r: R.CaseRecord) -> Case:
    return Case(
        case_id=r.case_id,
        status=r.status,
        submitting_bureau=r.submitting_bureau,
        handling_bureau=r.handling_bureau,
        report=r.report,
        filed_at=time_of(r.filed_at),
        match_keys=list(r.match_keys),
        action_ids=list(r.action_ids),
        links=[Link(k.case_id, k.basis, k.match_key) for k in r.links],
        linked_reports=list(r.linked_reports),
        linked_report_count=r.linked_report_count,
        history=[
            HistoryEntry(h.event_id, h.event_type, time_of(h.at), h.bureau, h.summary)
            for h in r.history
        ],
        decision=r.decision if r.HasField("decision") else None,
        assignee=r.assignee,
        evidence=list(r.evidence),
        fast_track_center=r.fast_track_center,
        deadlines=_times_by_name(r.deadlines),
        overdue=list(r.overdue),
    )


def _named_times(times: dict[str, datetime]) -> list[R.NamedTime]:
    return [R.NamedTime(name=name, at=timestamp(at)) for name, at in times.items()]


def _times_by_name(named: list[R.NamedTime]) -> dict[str, datetime]:
    return {n.name: time_of(n.at) for n in named}


# ----------------------------------------------------------------------------- actions


def _action_record(action: Action) -> R.ActionRecord:
    return R.ActionRecord(
        action_id=action.action_id,
        lead_bureau=action.lead_bureau,
        title=action.title,
        invited=action.invited,
        starts_at=timestamp(action.starts_at),
        ends_at=timestamp(action.ends_at),
        criteria=action.criteria,
        members=action.members,
        concluded=action.concluded,
        summary=action.summary,
    )


def _action(r: R.ActionRecord) -> Action:
    return Action(
        action_id=r.action_id,
        lead_bureau=r.lead_bureau,
        title=r.title,
        invited=list(r.invited),
        starts_at=time_of(r.starts_at),
        ends_at=time_of(r.ends_at),
        criteria=r.criteria,
        members=list(r.members),
        concluded=r.concluded,
        summary=r.summary,
    )


# ---------------------------------------------------------------------------- the rest


def _submission_record(s: Submission) -> R.SubmissionRecord:
    return R.SubmissionRecord(case_id=s.case_id, digest=s.digest)


def _submission(r: R.SubmissionRecord) -> Submission:
    return Submission(r.case_id, r.digest)


def _targets_record(targets: dict[str, str]) -> R.TargetsRecord:
    return R.TargetsRecord(
        enterprises=[R.TargetEnterprise(uscc=u, name=n) for u, n in targets.items()]
    )


def _targets(r: R.TargetsRecord) -> dict[str, str]:
    return {e.uscc: e.name for e in r.enterprises}


CODECS: dict[str, TableCodec] = {
    "cases": TableCodec(R.CaseRecord, _case_record, _case),
    "submissions": TableCodec(R.SubmissionRecord, _submission_record, _submission),
    "identities": TableCodec(
        R.IdentitiesRecord, lambda usccs: R.IdentitiesRecord(usccs=usccs), lambda r: list(r.usccs)
    ),
    "actions": TableCodec(R.ActionRecord, _action_record, _action),
    "targets": TableCodec(R.TargetsRecord, _targets_record, _targets),
    "watched": TableCodec(
        R.WatchedRecord,
        lambda pending: R.WatchedRecord(pending=_named_times(pending)),
        lambda r: _times_by_name(r.pending),
    ),
    "listed": TableCodec(
        R.ListingsRecord,
        lambda ids: R.ListingsRecord(listing_ids=ids),
        lambda r: list(r.listing_ids),
    ),
}

SUMMARY_CODEC = TableCodec(R.CaseRecord, _summary_record, _case)
MATCHER_CODECS: dict[str, TableCodec] = {
    "cases": SUMMARY_CODEC,
    **{
        name: CODECS[name] for name in ("submissions", "identities", "actions", "targets", "listed")
    },
}
# The case writers' Faust tables are "casework-<field>" (the matcher's keep the field's name,
# which intake's single writer gave them before the scale-out).
CASEWORK_TABLE_PREFIX = "casework-"
# The references too: a report linked into a case counts once however often its fact is
# applied (the journal that also says so is the replica's own: a replica that takes a
# partition over gets its records again without it).
CASEWORK_CODECS: dict[str, TableCodec] = {
    name: CODECS[name] for name in ("cases", "submissions", "identities", "watched")
}
