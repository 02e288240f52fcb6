"""State -> the protobuf views gRPC returns."""

from __future__ import annotations

from itertools import islice

from ipcoord.intake import matching
from ipcoord.intake.state import Case, IntakeState, Link
from ipcoord.platform.table_codec import timestamp
from ipcoord.v1 import intake_pb2

# Cases sharing a key that a CaseView lists (GetRespondentHistory and ListCases list them all).
RELATED_SHOWN = 100


def case_view(
    case: Case, state: IntakeState, *, with_history: bool = True, with_related: bool = True
) -> intake_pb2.CaseView:
    """``with_related``: the cases sharing a source key too (a case writer leaves them to the
    matcher, which holds the match index over every case: api.py adds its description)."""
    view = intake_pb2.CaseView(
        case_id=case.case_id,
        status=case.status,
        submitting_bureau=case.submitting_bureau,
        handling_bureau=case.handling_bureau,
        report=case.report,
        action_ids=case.action_ids,
        fast_tracked=bool(case.fast_track_center),
        evidence=case.evidence,
        assignee=case.assignee,
        linked_reports=case.linked_reports,
        linked_report_count=case.linked_report_count,
    )
    view.filed_at.CopyFrom(timestamp(case.filed_at))
    if case.decision is not None:
        view.decision.CopyFrom(case.decision)
    participants: dict[str, None] = {}
    for action_id in case.action_ids:
        action = state.actions.get(action_id)
        if action is not None:
            participants.update(dict.fromkeys(action.members))
    view.participating_bureaus.extend(participants)
    for name, due in sorted(case.deadlines.items()):
        view.deadlines.add(name=name, due_at=timestamp(due))
    for link in related_cases(case, state) if with_related else case.links:
        view.links.add(case_id=link.case_id, basis=link.basis, match_key=link.match_key)
    if with_history:
        for h in case.history:
            view.history.add(
                event_id=h.event_id,
                event_type=h.event_type,
                bureau=h.bureau,
                summary=h.summary,
                occurred_at=timestamp(h.at),
            )
    return view


def related_cases(case: Case, state: IntakeState) -> list[Link]:
    """Explicit links plus other cases sharing a source key (the first RELATED_SHOWN of them,
    by key and case id): repeat respondents are visible from any of their cases."""
    seen = {case.case_id}
    out = []
    for link in case.links:
        if link.case_id not in seen:
            seen.add(link.case_id)
            out.append(link)
    shared = 0
    for key in state.with_identities(case.match_keys):
        # At most RELATED_SHOWN + 1 ids per key (the case itself may be among them).
        for other in islice(state.cases_with_key(key), RELATED_SHOWN + 1):
            if shared == RELATED_SHOWN:
                return out
            if other not in seen:
                seen.add(other)
                shared += 1
                out.append(Link(other, matching.basis_of(key), key))
    return out


def described(view: intake_pb2.CaseView, description: intake_pb2.CaseDescription) -> None:
    """A case writer's view with what the matcher knows of the case: its links and related
    cases, its special actions and their members."""
    for name in ("links", "action_ids", "participating_bureaus"):
        view.ClearField(name)
    view.links.extend(description.links)
    view.action_ids.extend(description.action_ids)
    view.participating_bureaus.extend(description.participating_bureaus)
