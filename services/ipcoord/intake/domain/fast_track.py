"""Fast-track: an IP protection center's target enterprises, the deadlines a case filed for one
of them gets, the clock's CheckDeadlines that escalates a passed deadline, and the
serious-dishonesty listings relayed from credit (no fast-track while listed)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message

from ipcoord.intake.domain.shared import Command, Meta, Rules
from ipcoord.intake.keys import partition_of
from ipcoord.intake.state import Case, IntakeState
from ipcoord.intake.validation import check_uscc
from ipcoord.platform.bureaus import BureauKind
from ipcoord.platform.errors import InvalidInput, NotFound, NotPermitted
from ipcoord.v1 import credit_pb2
from ipcoord.v1 import intake_pb2 as S

# Deadline -> the statuses that mean it was met.
_MILESTONES = {
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


def pending_deadlines(case: Case) -> dict[str, datetime]:
    """Deadlines still to be met and not yet escalated."""
    return {
        name: due
        for name, due in case.deadlines.items()
        if name not in case.overdue and case.status not in _MILESTONES[name]
    }


# ------------------------------------------------------------------------------ decide


def on_filing(case_id, handler, report, at, state: IntakeState, rules: Rules) -> list[Message]:
    """A case filed with a center for one of its targets gets deadlines (none while the right
    holder is listed as seriously dishonest)."""
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


def _check_deadlines(cmd: Command, state: IntakeState, rules: Rules) -> list[Message]:
    # Only the watched cases (fast-tracked, deadline neither met nor escalated) are looked at:
    # a tick costs what is pending, not what the table holds. ``watched`` holds every
    # partition this replica owns; a tick checks those of its own partition only (a case is
    # written in the events of its partition alone).
    tick: S.CheckDeadlines = cmd.body
    now = tick.now.ToDatetime(tzinfo=UTC)
    events = []
    for case_id, pending in sorted(state.watched.items()):
        if tick.partition_count and partition_of(case_id, tick.partition_count) != tick.partition:
            continue
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


DECIDERS = {
    S.RegisterTargetEnterprise: _register_target,
    S.RemoveTargetEnterprise: _remove_target,
    S.CheckDeadlines: _check_deadlines,
}

# ------------------------------------------------------------------------------ evolve


def _fast_tracked(case: Case, e: S.CaseFastTracked) -> str:
    case.fast_track_center = e.center
    case.deadlines = {d.name: d.due_at.ToDatetime(tzinfo=UTC) for d in e.deadlines}
    return f"fast-tracked by {e.center}"


def _overdue(case: Case, e: S.CaseOverdue) -> str:
    if e.deadline not in case.overdue:
        case.overdue.append(e.deadline)
    return f"{e.deadline} deadline passed"


# How each fact changes the case it is about (case_facts.py applies them).
CASE_CHANGES = {
    S.CaseFastTracked: _fast_tracked,
    S.CaseOverdue: _overdue,
}


def follow(state: IntakeState, case: Case) -> None:
    """Keep a changed fast-tracked case's pending deadlines where the clock looks."""
    if not case.deadlines:
        return
    pending = pending_deadlines(case)
    if pending:
        state.watched[case.case_id] = pending
    elif case.case_id in state.watched:
        del state.watched[case.case_id]


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


EVOLVERS = {
    S.TargetEnterpriseRegistered: _on_target_registered,
    S.TargetEnterpriseRemoved: _on_target_removed,
    credit_pb2.SeriousDishonestyListed: _on_listed,
    credit_pb2.ListingRemoved: _on_listing_removed,
}
