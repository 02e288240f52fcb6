"""Special actions: launched by a lead bureau, joined by the bureaus it invited, cases enrolled
by hand or automatically on filing (by the action's criteria), concluded by the lead; progress
is a count per bureau and status, kept by evolve."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from google.protobuf.message import Message

from ipcoord.intake.domain.shared import Command, Meta, Rules, Standing, standing
from ipcoord.intake.state import ACTIONS_PER_CASE, Action, Case, IntakeState
from ipcoord.intake.validation import check_known_bureau
from ipcoord.platform import caseset
from ipcoord.platform.errors import (
    AlreadyExists,
    IllegalTransition,
    InvalidInput,
    NotFound,
    NotPermitted,
    Violation,
)
from ipcoord.v1 import intake_pb2 as S

# ------------------------------------------------------------------------------ decide


def on_filing(case_id, handler, report, at, state: IntakeState) -> list[Message]:
    """The actions a newly filed case joins: the one its report names, then every open action
    its handling bureau takes part in whose criteria it meets (at most ACTIONS_PER_CASE)."""
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


DECIDERS = {
    S.LaunchSpecialAction: _launch,
    S.JoinSpecialAction: _join,
    S.EnrollCases: _enrol,
    S.ConcludeSpecialAction: _conclude,
}

# ------------------------------------------------------------------------------ evolve


def _enrolled(case: Case, e: S.CaseEnrolled) -> str:
    if e.action_id not in case.action_ids:
        case.action_ids = [*case.action_ids, e.action_id]
    return f"enrolled in {e.action_id}" + (" (criteria)" if e.automatic else "")


# How each fact changes the case it is about (case_facts.py applies them).
CASE_CHANGES = {S.CaseEnrolled: _enrolled}


def follow(state: IntakeState, case: Case, before: Standing) -> None:
    """Bring the action memberships and the progress counts in line with a changed case: a
    function of the cases as they now stand, whatever order the facts came in."""
    now = standing(case)
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


EVOLVERS = {
    S.SpecialActionLaunched: _on_launched,
    S.SpecialActionJoined: _on_joined,
    S.SpecialActionConcluded: _on_concluded,
}

# ------------------------------------------------------------------------------ reads


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
