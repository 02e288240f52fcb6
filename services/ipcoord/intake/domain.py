"""Intake rules: decide(command, state) -> events; evolve(state, event) -> state. No I/O.

Commands are the protobuf command messages (ReportSubmitted, the IntakeCommand cases) with who
sent them; events are the protobuf facts of ipcoord.cases.v1. Refusals raise DomainError
subclasses; api.py maps them to gRPC status, stream.py to CaseCommandRejected."""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import uuid
from collections import Counter
from collections.abc import Set
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf.message import Message

from ipcoord.intake import caseset, matching, normalise
from ipcoord.intake.state import (
    ACTIONS_PER_CASE,
    LINKABLE_STATUSES,
    LINKED_REPORTS_KEPT,
    MATCH_KEYS_KEPT,
    OPEN_STATUSES,
    Action,
    Case,
    HistoryEntry,
    IntakeState,
    Link,
    Submission,
)
from ipcoord.intake.validation import (
    check_evidence,
    check_known_bureau,
    check_uscc,
    validate_decision,
    validate_report,
)
from ipcoord.platform.bureaus import BureauKind, BureauRegistry
from ipcoord.platform.calendar import WorkingCalendar
from ipcoord.platform.errors import (
    AlreadyExists,
    IllegalTransition,
    InvalidInput,
    NotFound,
    NotPermitted,
    Violation,
)
from ipcoord.v1 import credit_pb2, intake_pb2

S = intake_pb2
_CASE_NAMESPACE = uuid.UUID("5b0c3c8e-9f0e-4a57-9d1c-2f1a1f5e0c11")


@dataclass(frozen=True)
class Rules:
    """Configuration the rules depend on."""

    bureaus: BureauRegistry
    uscc_allow: Set[str] = frozenset()
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    # Fast-track deadlines in working days from filing.
    accept_within_days: int = 2
    decide_within_days: int = 20


@dataclass(frozen=True)
class Command:
    body: Message
    actor: str  # bureau that sent it (envelope.producer_bureau / gRPC caller)
    event_id: str  # of the command envelope: causation of what it produces
    at: datetime


def case_id_for(bureau: str, external_ref: str) -> str:
    """Deterministic: the same submission always names the same case, even on replay."""
    return str(uuid.uuid5(_CASE_NAMESPACE, f"{bureau}/{external_ref}"))


def submission_key(bureau: str, external_ref: str) -> str:
    return f"{bureau}/{external_ref}"


def report_digest(report: S.ReportSubmitted) -> str:
    """What tells a retry from new content under the same reference: the bytes of the report
    as the rules read it (USCCs normalised), so a retry typed in lower case is the same."""
    canonical = normalise.with_normalised_usccs(report)
    return hashlib.sha256(canonical.SerializeToString(deterministic=True)).hexdigest()


def known_submission(state: IntakeState, bureau: str, report: S.ReportSubmitted) -> str | None:
    """The case this very report already went to (filed or linked into); None while its
    reference is unused. The reference is an idempotency key, as in payment APIs: the same
    report again is a duplicate, a different report under it is refused."""
    held = state.submissions.get(submission_key(bureau, report.external_ref))
    if held is None:
        return None
    if held.digest != report_digest(report):
        raise AlreadyExists(
            f"external_ref {report.external_ref!r} of {bureau} is already used for case "
            f"{held.case_id} by a different report; send new content under a new reference",
            resource_type="case",
            resource_name=held.case_id,
        )
    return held.case_id


# ------------------------------------------------------------------------------------ decide


def decide(command: Command, state: IntakeState, rules: Rules) -> list[Message]:
    handler = _DECIDERS.get(type(command.body))
    if handler is None:
        raise InvalidInput(
            [Violation("command", f"{type(command.body).__name__} is not an intake command")]
        )
    # One reading of USCCs for every rule and every fact: lower case is the same entity.
    command = dataclasses.replace(command, body=normalise.with_normalised_usccs(command.body))
    return handler(command, state, rules)


def _submit(cmd: Command, state: IntakeState, rules: Rules) -> list[Message]:
    report: S.ReportSubmitted = cmd.body
    if known_submission(state, cmd.actor, report) is not None:
        return []  # idempotent: this bureau already handed in this very report
    violations = validate_report(report, cmd.actor, rules.bureaus, rules.uscc_allow)
    if report.special_action_id and report.special_action_id not in state.actions:
        violations.append(
            Violation("special_action_id", f"unknown special action {report.special_action_id!r}")
        )
    if violations:
        raise InvalidInput(violations)
    keys = state.with_identities(matching.report_keys(report))
    match = _first_linkable(keys, state)
    if match is not None:
        case_id, key = match
        return [
            S.ReportLinked(
                case_id=case_id,
                submitting_bureau=cmd.actor,
                external_ref=report.external_ref,
                basis=matching.basis_of(key),
                match_key=key,
                report=report,
            )
        ]
    case_id = case_id_for(cmd.actor, report.external_ref)
    handler = report.handling_bureau or cmd.actor
    events: list[Message] = [
        S.CaseFiled(
            case_id=case_id, submitting_bureau=cmd.actor, handling_bureau=handler, report=report
        )
    ]
    events += _fast_track(case_id, handler, report, cmd.at, state, rules)
    events += _enrolments(case_id, handler, report, cmd.at, state)
    return events


def _first_linkable(keys: list[str], state: IntakeState) -> tuple[str, str] | None:
    """The open case a report belongs to: for the most specific key that matches any, the
    earliest filed (ties broken by case id, so replays agree). One read per key: the match
    index ranks its cases by filing time while they are linkable."""
    for key in keys:
        first = state.first_linkable(key)
        if first:
            return first, key
    return None


def _fast_track(case_id, handler, report, at, state, rules) -> list[Message]:
    bureau = rules.bureaus.get(handler)
    if bureau is None or bureau.kind is not BureauKind.PROTECTION_CENTER:
        return []
    holder = report.right_holder.uscc
    if holder not in state.targets.get(handler, {}) or state.listed.get(holder):
        return []  # not a target, or listed as seriously dishonest: no fast-track while listed
    event = S.CaseFastTracked(case_id=case_id, center=handler)
    for name, days in (("accept", rules.accept_within_days), ("decide", rules.decide_within_days)):
        deadline = event.deadlines.add(name=name)
        deadline.due_at.FromDatetime(rules.calendar.add_working_days(at, days))
    return [event]


def _enrolments(case_id, handler, report, at, state) -> list[Message]:
    events = []
    if report.special_action_id:
        events.append(
            S.CaseEnrolled(action_id=report.special_action_id, case_id=case_id, automatic=False)
        )
    for action in sorted(state.actions.values(), key=lambda a: a.action_id):
        if action.action_id == report.special_action_id or action.concluded:
            continue
        if handler in action.members and _matches(action, report, at):
            events.append(
                S.CaseEnrolled(action_id=action.action_id, case_id=case_id, automatic=True)
            )
    return events[:ACTIONS_PER_CASE]


def _matches(action: Action, report: S.ReportSubmitted, at: datetime) -> bool:
    if not action.starts_at <= at <= action.ends_at:
        return False
    types = list(action.criteria.infringement_types)
    if types and report.infringement_type not in types:
        return False
    prefixes = list(action.criteria.division_prefixes)
    return not prefixes or any(report.division_code.startswith(p) for p in prefixes)


# Lifecycle: the statuses each command may start from.
_FROM = {
    S.AcceptCase: {S.CASE_STATUS_FILED},
    S.RejectCase: {S.CASE_STATUS_FILED},
    S.AssignCase: {S.CASE_STATUS_ACCEPTED, S.CASE_STATUS_ASSIGNED},
    S.StartInvestigation: {S.CASE_STATUS_ASSIGNED},
    S.DecideCase: {S.CASE_STATUS_UNDER_INVESTIGATION},
    S.CloseCase: {S.CASE_STATUS_DECIDED},
    S.TransferCase: OPEN_STATUSES,
    S.AddEvidence: OPEN_STATUSES | {S.CASE_STATUS_DECIDED},
}


def status_name(status: int) -> str:
    return S.CaseStatus.Name(status).removeprefix("CASE_STATUS_").lower().replace("_", " ")


def _handled_case(cmd: Command, state: IntakeState) -> Case:
    case = state.cases.get(cmd.body.case_id) if cmd.body.case_id else None
    if case is None:
        raise NotFound(f"no case {cmd.body.case_id!r}")
    if case.handling_bureau != cmd.actor:
        raise NotPermitted(
            f"case {case.case_id} is handled by {case.handling_bureau}; "
            f"{cmd.actor} may not change it"
        )
    allowed = _FROM[type(cmd.body)]
    if case.status not in allowed:
        verb = type(cmd.body).__name__
        raise IllegalTransition(
            f"{verb} is not allowed: case {case.case_id} is "
            f"{status_name(case.status)} (allowed from: "
            f"{', '.join(sorted(status_name(s) for s in allowed))})"
        )
    return case


def _lifecycle(cmd: Command, state: IntakeState, rules: Rules) -> list[Message]:
    body = cmd.body
    case = _handled_case(cmd, state)
    actor = cmd.actor
    match body:
        case S.AcceptCase():
            return [S.CaseAccepted(case_id=case.case_id, by_bureau=actor)]
        case S.RejectCase():
            _require(body.reason, "reason")
            return [S.CaseRejected(case_id=case.case_id, by_bureau=actor, reason=body.reason)]
        case S.AssignCase():
            _require(body.assignee, "assignee")
            return [S.CaseAssigned(case_id=case.case_id, by_bureau=actor, assignee=body.assignee)]
        case S.StartInvestigation():
            return [S.InvestigationStarted(case_id=case.case_id, by_bureau=actor)]
        case S.DecideCase():
            violations = validate_decision(body.decision, rules.uscc_allow)
            if violations:
                raise InvalidInput(violations)
            return [
                S.CaseDecided(
                    case_id=case.case_id,
                    by_bureau=actor,
                    decision=body.decision,
                    right_holder=case.report.right_holder,
                )
            ]
        case S.CloseCase():
            return [S.CaseClosed(case_id=case.case_id, by_bureau=actor, reason=body.reason)]
        case S.TransferCase():
            violations = check_known_bureau(
                "to_bureau", body.to_bureau, rules.bureaus, may_handle=True
            )
            if violations:
                raise InvalidInput(violations)
            if body.to_bureau == case.handling_bureau:
                raise IllegalTransition(
                    f"case {case.case_id} is already handled by {body.to_bureau}"
                )
            return [
                S.CaseTransferred(
                    case_id=case.case_id,
                    from_bureau=actor,
                    to_bureau=body.to_bureau,
                    reason=body.reason,
                )
            ]
        case S.AddEvidence():
            violations = check_evidence("evidence", body.evidence)
            if violations:
                raise InvalidInput(violations)
            return [S.EvidenceAdded(case_id=case.case_id, by_bureau=actor, evidence=body.evidence)]
    raise AssertionError(f"no lifecycle rule for {type(body).__name__}")


def _require(value: str, name: str) -> None:
    if not value.strip():
        raise InvalidInput([Violation(name, "is required")])


def _identify(cmd: Command, state: IntakeState, rules: Rules) -> list[Message]:
    body: S.IdentifyRespondent = cmd.body
    violations = check_uscc("entity.uscc", body.entity.uscc, rules.uscc_allow, required=True)
    online = matching.online_keys(body.online_identifier)
    if not online:
        violations.append(Violation("online_identifier", "needs platform + seller_id, or shop_url"))
    if violations:
        raise InvalidInput(violations)
    events: list[Message] = [
        S.RespondentIdentified(
            online_identifier=body.online_identifier, entity=body.entity, by_bureau=cmd.actor
        )
    ]
    # Cases behind the identifier and cases behind the USCC are the same source: link their
    # representatives, each pair once (a case can represent several of the identifier's keys).
    # The representative of a key is its earliest filed linkable case, the one later reports
    # join; the other cases are found through the USCC all the same (GetRespondentHistory).
    uscc_key = matching.uscc_key(body.entity.uscc)
    behind_uscc = state.first_linkable(uscc_key)
    pairs = {
        tuple(sorted((case_id, behind_uscc)))
        for case_id in {state.first_linkable(key) for key in online}
        if case_id and behind_uscc and case_id != behind_uscc
        if not _linked(state, case_id, behind_uscc)
    }
    for a, b in sorted(pairs):
        for this, that in ((a, b), (b, a)):
            events.append(
                S.CasesLinked(
                    case_id=this, linked_case_id=that, basis=matching.USCC, match_key=uscc_key
                )
            )
    return events


def _linked(state: IntakeState, a: str, b: str) -> bool:
    case = state.cases.get(a)
    return case is not None and any(link.case_id == b for link in case.links)


def _launch(cmd: Command, state: IntakeState, rules: Rules) -> list[Message]:
    body: S.LaunchSpecialAction = cmd.body
    violations = []
    if not body.action_id.strip():
        violations.append(Violation("action_id", "is required"))
    if not body.title.strip():
        violations.append(Violation("title", "is required"))
    for i, bureau in enumerate(body.participating_bureaus):
        violations += check_known_bureau(f"participating_bureaus[{i}]", bureau, rules.bureaus)
    if body.ends_at.ToDatetime() <= body.starts_at.ToDatetime():
        violations.append(Violation("ends_at", "must be after starts_at"))
    if violations:
        raise InvalidInput(violations)
    if body.action_id in state.actions:
        raise AlreadyExists(
            f"special action {body.action_id!r} exists",
            resource_type="special action",
            resource_name=body.action_id,
        )
    return [
        S.SpecialActionLaunched(
            action_id=body.action_id,
            lead_bureau=cmd.actor,
            title=body.title,
            participating_bureaus=body.participating_bureaus,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            criteria=body.criteria,
        )
    ]


def _open_action(action_id: str, state: IntakeState) -> Action:
    action = state.actions.get(action_id)
    if action is None:
        raise NotFound(f"no special action {action_id!r}")
    if action.concluded:
        raise IllegalTransition(f"special action {action_id} is concluded")
    return action


def _join(cmd: Command, state: IntakeState, rules: Rules) -> list[Message]:
    action = _open_action(cmd.body.action_id, state)
    if cmd.actor in action.members:
        return []  # already a member: joining twice changes nothing
    if cmd.actor not in action.invited:
        raise NotPermitted(f"{cmd.actor} is not invited to special action {action.action_id}")
    return [S.SpecialActionJoined(action_id=action.action_id, bureau=cmd.actor)]


def _enrol(cmd: Command, state: IntakeState, rules: Rules) -> list[Message]:
    body: S.EnrollCases = cmd.body
    action = _open_action(body.action_id, state)
    if cmd.actor not in action.members:
        raise NotPermitted(f"{cmd.actor} does not take part in special action {action.action_id}")
    missing = [c for c in body.case_ids if c not in state.cases]
    if missing:
        raise NotFound(f"no such cases: {', '.join(missing)}")
    cases = [state.cases[c] for c in dict.fromkeys(body.case_ids)]
    new = [case for case in cases if action.action_id not in case.action_ids]
    full = [case.case_id for case in new if len(case.action_ids) >= ACTIONS_PER_CASE]
    if full:
        raise IllegalTransition(
            f"cases already in {ACTIONS_PER_CASE} special actions, the most a case can be "
            f"in: {', '.join(full)}"
        )
    return [
        S.CaseEnrolled(action_id=action.action_id, case_id=c.case_id, automatic=False) for c in new
    ]


def _conclude(cmd: Command, state: IntakeState, rules: Rules) -> list[Message]:
    action = _open_action(cmd.body.action_id, state)
    if cmd.actor != action.lead_bureau:
        raise NotPermitted(
            f"only the lead bureau {action.lead_bureau} may conclude {action.action_id}"
        )
    return [
        S.SpecialActionConcluded(
            action_id=action.action_id,
            by_bureau=cmd.actor,
            summary=cmd.body.summary,
            final_progress=action_progress(action.action_id, state),
        )
    ]


def _register_target(cmd: Command, state: IntakeState, rules: Rules) -> list[Message]:
    _require_center(cmd.actor, rules)
    enterprise = cmd.body.enterprise
    violations = check_uscc("enterprise.uscc", enterprise.uscc, rules.uscc_allow, required=True)
    if violations:
        raise InvalidInput(violations)
    if enterprise.uscc in state.targets.get(cmd.actor, {}):
        return []
    return [S.TargetEnterpriseRegistered(center=cmd.actor, enterprise=enterprise)]


def _remove_target(cmd: Command, state: IntakeState, rules: Rules) -> list[Message]:
    _require_center(cmd.actor, rules)
    if cmd.body.uscc not in state.targets.get(cmd.actor, {}):
        raise NotFound(f"{cmd.body.uscc} is not a target enterprise of {cmd.actor}")
    return [S.TargetEnterpriseRemoved(center=cmd.actor, uscc=cmd.body.uscc)]


def _require_center(actor: str, rules: Rules) -> None:
    bureau = rules.bureaus.get(actor)
    if bureau is None or bureau.kind is not BureauKind.PROTECTION_CENTER:
        raise NotPermitted(f"{actor} is not an IP protection center")


_MILESTONES = {  # deadline -> statuses that mean it was met
    "accept": {
        S.CASE_STATUS_ACCEPTED,
        S.CASE_STATUS_ASSIGNED,
        S.CASE_STATUS_UNDER_INVESTIGATION,
        S.CASE_STATUS_DECIDED,
        S.CASE_STATUS_CLOSED,
        S.CASE_STATUS_REJECTED,
    },
    "decide": {S.CASE_STATUS_DECIDED, S.CASE_STATUS_CLOSED, S.CASE_STATUS_REJECTED},
}


def _check_deadlines(cmd: Command, state: IntakeState, rules: Rules) -> list[Message]:
    # Only the watched cases (fast-tracked, deadline neither met nor escalated) are looked at:
    # a tick costs what is pending, not what the table holds.
    now = cmd.body.now.ToDatetime(tzinfo=UTC)
    events = []
    for case_id, pending in sorted(state.watched.items()):
        case = state.cases.get(case_id)
        for name, due in sorted(pending.items()):
            if due < now and case is not None:
                event = S.CaseOverdue(
                    case_id=case_id,
                    deadline=name,
                    handling_bureau=case.handling_bureau,
                    action_ids=case.action_ids,
                )
                event.due_at.FromDatetime(due)
                events.append(event)
    return events


def pending_deadlines(case: Case) -> dict[str, datetime]:
    """Deadlines still to be met and not yet escalated."""
    return {
        name: due
        for name, due in case.deadlines.items()
        if name not in case.overdue and case.status not in _MILESTONES[name]
    }


_DECIDERS = {
    S.ReportSubmitted: _submit,
    **{command: _lifecycle for command in _FROM},
    S.IdentifyRespondent: _identify,
    S.LaunchSpecialAction: _launch,
    S.JoinSpecialAction: _join,
    S.EnrollCases: _enrol,
    S.ConcludeSpecialAction: _conclude,
    S.RegisterTargetEnterprise: _register_target,
    S.RemoveTargetEnterprise: _remove_target,
    S.CheckDeadlines: _check_deadlines,
}


# ------------------------------------------------------------------------------------ evolve


@dataclass(frozen=True)
class Meta:
    """What evolve needs of the envelope around an event."""

    event_id: str
    at: datetime
    bureau: str


def evolve(state: IntakeState, event: Message, meta: Meta) -> IntakeState:
    """Apply one fact. Facts about different keys commute, so a replay of the partitioned
    log in any interleaving reaches the same state."""
    handler = _EVOLVERS.get(type(event))
    if handler is not None:
        handler(state, event, meta)
    return state


def _history(case: Case, event: Message, meta: Meta, summary: str) -> None:
    if any(h.event_id == meta.event_id for h in case.history):
        return
    entry = HistoryEntry(meta.event_id, event.DESCRIPTOR.full_name, meta.at, meta.bureau, summary)
    # In time order (UUIDv7 ids break ties): a replay of the partitioned log, which reads a
    # CasesLinked from the other case's partition, still yields the same history.
    bisect.insort(case.history, entry, key=lambda h: (h.at, h.event_id))


def _rank(case: Case):
    """A case's rank in the match index: its filing time while a report may join it."""
    return case.filed_at if case.status in LINKABLE_STATUSES else None


def _index_all(state: IntakeState, keys: list[str], case: Case) -> None:
    """Index a case under its keys and under the USCCs its online ids were identified as, so
    filing and identification give the same index in whichever order a replay reads them.
    A case is always indexed under exactly ``with_identities(case.match_keys)``, with its
    current rank: that is what lets evolve re-rank it when it stops being linkable."""
    for key in state.with_identities(keys):
        caseset.add(state.match_index, key, case.case_id, _rank(case))


def _on_filed(state: IntakeState, e: S.CaseFiled, meta: Meta) -> None:
    if e.case_id in state.cases:
        return  # applied already: filing again must not reset what happened since
    keys = matching.report_keys(e.report)
    case = Case(
        case_id=e.case_id,
        status=S.CASE_STATUS_FILED,
        submitting_bureau=e.submitting_bureau,
        handling_bureau=e.handling_bureau,
        report=e.report,
        filed_at=meta.at,
        match_keys=keys,
        evidence=list(e.report.evidence),
    )
    _history(case, e, meta, f"filed by {e.submitting_bureau}, handled by {e.handling_bureau}")
    state.cases[e.case_id] = case
    ref = submission_key(e.submitting_bureau, e.report.external_ref)
    state.submissions[ref] = Submission(e.case_id, report_digest(e.report))
    _index_all(state, keys, case)


def _on_linked(state: IntakeState, e: S.ReportLinked, meta: Meta) -> None:
    ref = submission_key(e.submitting_bureau, e.external_ref)
    held = state.submissions.get(ref)
    if held is not None and held.case_id == e.case_id:
        return  # applied already (a replay over live state): counts must not double
    state.submissions[ref] = Submission(e.case_id, report_digest(e.report))
    case = state.cases.get(e.case_id)
    if case is None:
        return
    # Not in the history: monitoring feeds can link thousands of reports into one case; the
    # history keeps what bureaus did, the latest links and the count say what feeds found.
    case.linked_reports = [*case.linked_reports, ref][-LINKED_REPORTS_KEPT:]
    case.linked_report_count += 1
    room = max(MATCH_KEYS_KEPT - len(case.match_keys), 0)
    new_keys = [k for k in matching.report_keys(e.report) if k not in case.match_keys][:room]
    case.match_keys = [*case.match_keys, *new_keys]
    state.cases[e.case_id] = case
    _index_all(state, new_keys, case)


_STATUS_AFTER = {
    S.CaseAccepted: S.CASE_STATUS_ACCEPTED,
    S.CaseRejected: S.CASE_STATUS_REJECTED,
    S.CaseAssigned: S.CASE_STATUS_ASSIGNED,
    S.InvestigationStarted: S.CASE_STATUS_UNDER_INVESTIGATION,
    S.CaseDecided: S.CASE_STATUS_DECIDED,
    S.CaseClosed: S.CASE_STATUS_CLOSED,
}


def _on_case_event(state: IntakeState, e: Message, meta: Meta) -> None:
    case = state.cases.get(e.case_id)
    if case is None:
        return
    before = _standing(case)
    if type(e) in _STATUS_AFTER:
        case.status = _STATUS_AFTER[type(e)]
    summary = type(e).__name__
    match e:
        case S.CaseAssigned():
            case.assignee = e.assignee
            summary = f"assigned to {e.assignee}"
        case S.CaseRejected() | S.CaseClosed():
            summary = f"{type(e).__name__}: {e.reason}"
        case S.CaseDecided():
            case.decision = e.decision
            summary = (
                "infringement established"
                if e.decision.infringement_established
                else "no infringement established"
            )
        case S.CaseTransferred():
            case.handling_bureau = e.to_bureau
            summary = f"transferred {e.from_bureau} -> {e.to_bureau}: {e.reason}"
        case S.EvidenceAdded():
            if all(ev.sha256 != e.evidence.sha256 for ev in case.evidence):
                case.evidence.append(e.evidence)
            summary = f"evidence {e.evidence.sha256[:12]}"
        case S.CaseFastTracked():
            case.fast_track_center = e.center
            case.deadlines = {d.name: d.due_at.ToDatetime(tzinfo=UTC) for d in e.deadlines}
            summary = f"fast-tracked by {e.center}"
        case S.CaseOverdue():
            if e.deadline not in case.overdue:
                case.overdue.append(e.deadline)
            summary = f"{e.deadline} deadline passed"
        case S.CaseEnrolled():
            if e.action_id not in case.action_ids:
                case.action_ids = [*case.action_ids, e.action_id]
            summary = f"enrolled in {e.action_id}" + (" (criteria)" if e.automatic else "")
    _history(case, e, meta, summary)
    state.cases[e.case_id] = case
    if case.deadlines:
        _watch(state, case)
    _restand(state, case, before)


@dataclass(frozen=True)
class _Standing:
    """What the indexes and the progress counts know of a case."""

    handling_bureau: str
    status: int
    action_ids: tuple[str, ...]


def _standing(case: Case) -> _Standing:
    return _Standing(case.handling_bureau, case.status, tuple(case.action_ids))


def _restand(state: IntakeState, case: Case, before: _Standing) -> None:
    """Bring the action memberships, the progress counts and the match index in line with a
    case that changed. Each is a function of the cases as they now stand, whatever order the
    facts came in, and a fact applied twice finds nothing to change the second time."""
    now = _standing(case)
    if now == before:
        return
    moves: Counter[tuple[str, str, int]] = Counter()
    for action_id in before.action_ids:
        moves[(action_id, before.handling_bureau, before.status)] -= 1
    for action_id in now.action_ids:
        moves[(action_id, now.handling_bureau, now.status)] += 1
    for (action_id, bureau, status), n in sorted(moves.items()):
        if n:
            _count(state, action_id, bureau, status, n)
    for action_id in now.action_ids:
        if action_id not in before.action_ids:
            caseset.add(state.action_cases, action_id, case.case_id)
    if (before.status in LINKABLE_STATUSES) != (now.status in LINKABLE_STATUSES):
        _index_all(state, case.match_keys, case)


def _count(state: IntakeState, action_id: str, bureau: str, status: int, n: int) -> None:
    counts = {b: dict(by_status) for b, by_status in state.action_counts.get(action_id, {}).items()}
    by_status = counts.setdefault(bureau, {})
    by_status[status] = by_status.get(status, 0) + n
    if not by_status[status]:
        del by_status[status]
    if not by_status:
        del counts[bureau]
    if counts:
        state.action_counts[action_id] = counts
    elif action_id in state.action_counts:
        del state.action_counts[action_id]


def _watch(state: IntakeState, case: Case) -> None:
    pending = pending_deadlines(case)
    if pending:
        state.watched[case.case_id] = pending
    elif case.case_id in state.watched:
        del state.watched[case.case_id]


def _on_cases_linked(state: IntakeState, e: S.CasesLinked, meta: Meta) -> None:
    # Only the keyed case changes; decide emits one CasesLinked per side.
    case = state.cases.get(e.case_id)
    if case is None or any(link.case_id == e.linked_case_id for link in case.links):
        return
    link = Link(e.linked_case_id, e.basis, e.match_key)
    bisect.insort(case.links, link, key=lambda x: x.case_id)
    _history(case, e, meta, f"linked with {e.linked_case_id} on {e.match_key}")
    state.cases[e.case_id] = case


def _on_identified(state: IntakeState, e: S.RespondentIdentified, meta: Meta) -> None:
    uscc_key = matching.uscc_key(e.entity.uscc)
    for key in matching.online_keys(e.online_identifier):
        known = state.identities.get(key, [])
        if e.entity.uscc not in known:
            state.identities[key] = sorted([*known, e.entity.uscc])
        # The cases behind the identifier join the USCC's, with the ranks they hold: every
        # case, one write per node that changes (none when applied again).
        for case_id, rank in caseset.items(state.match_index, key):
            caseset.add(state.match_index, uscc_key, case_id, rank)


def _on_launched(state: IntakeState, e: S.SpecialActionLaunched, meta: Meta) -> None:
    previous = state.actions.get(e.action_id)
    members = previous.members if previous else []
    state.actions[e.action_id] = Action(
        action_id=e.action_id,
        lead_bureau=e.lead_bureau,
        title=e.title,
        invited=list(dict.fromkeys([e.lead_bureau, *e.participating_bureaus])),
        starts_at=e.starts_at.ToDatetime(tzinfo=UTC),
        ends_at=e.ends_at.ToDatetime(tzinfo=UTC),
        criteria=e.criteria,
        members=list(dict.fromkeys([e.lead_bureau, *members])),
    )


def _on_joined(state: IntakeState, e: S.SpecialActionJoined, meta: Meta) -> None:
    action = state.actions.get(e.action_id)
    if action is not None and e.bureau not in action.members:
        action.members.append(e.bureau)
        state.actions[e.action_id] = action


def _on_concluded(state: IntakeState, e: S.SpecialActionConcluded, meta: Meta) -> None:
    action = state.actions.get(e.action_id)
    if action is not None:
        action.concluded, action.summary = True, e.summary
        state.actions[e.action_id] = action


def _on_target_registered(state, e: S.TargetEnterpriseRegistered, meta: Meta) -> None:
    targets = dict(state.targets.get(e.center, {}))
    targets[e.enterprise.uscc] = e.enterprise.name
    state.targets[e.center] = targets


def _on_target_removed(state, e: S.TargetEnterpriseRemoved, meta: Meta) -> None:
    targets = dict(state.targets.get(e.center, {}))
    targets.pop(e.uscc, None)
    state.targets[e.center] = targets


def _on_listed(state, e: credit_pb2.SeriousDishonestyListed, meta: Meta) -> None:
    ids = state.listed.get(e.entity.uscc, [])
    if e.listing_id not in ids:
        state.listed[e.entity.uscc] = [*ids, e.listing_id]


def _on_listing_removed(state, e: credit_pb2.ListingRemoved, meta: Meta) -> None:
    ids = [i for i in state.listed.get(e.entity.uscc, []) if i != e.listing_id]
    if ids:
        state.listed[e.entity.uscc] = ids
    elif e.entity.uscc in state.listed:
        del state.listed[e.entity.uscc]


_EVOLVERS = {
    S.CaseFiled: _on_filed,
    S.ReportLinked: _on_linked,
    **{
        t: _on_case_event
        for t in (
            *_STATUS_AFTER,
            S.CaseTransferred,
            S.EvidenceAdded,
            S.CaseFastTracked,
            S.CaseOverdue,
            S.CaseEnrolled,
        )
    },
    S.CasesLinked: _on_cases_linked,
    S.RespondentIdentified: _on_identified,
    S.SpecialActionLaunched: _on_launched,
    S.SpecialActionJoined: _on_joined,
    S.SpecialActionConcluded: _on_concluded,
    S.TargetEnterpriseRegistered: _on_target_registered,
    S.TargetEnterpriseRemoved: _on_target_removed,
    credit_pb2.SeriousDishonestyListed: _on_listed,
    credit_pb2.ListingRemoved: _on_listing_removed,
}


# ------------------------------------------------------------------------------------ reads


def action_progress(action_id: str, state: IntakeState) -> S.ActionProgress:
    action = state.actions.get(action_id)
    if action is None:
        raise NotFound(f"no special action {action_id!r}")
    progress = S.ActionProgress(
        action_id=action_id,
        lead_bureau=action.lead_bureau,
        participating_bureaus=action.members,
        concluded=action.concluded,
    )
    # Counts kept by evolve: one read, however many cases the action holds.
    per_bureau: dict[str, dict[str, int]] = {b: {} for b in action.members}
    for bureau, by_status in state.action_counts.get(action_id, {}).items():
        per_bureau[bureau] = {S.CaseStatus.Name(s): n for s, n in by_status.items()}
    for bureau, counts in sorted(per_bureau.items()):
        progress.bureaus.add(bureau=bureau, cases_by_status=counts)
    progress.total_cases = sum(sum(counts.values()) for counts in per_bureau.values())
    return progress
