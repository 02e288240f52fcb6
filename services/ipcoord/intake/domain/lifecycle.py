"""A case's lifecycle, by its handling bureau: accept or reject, assign, investigate, decide,
close; transfer to another bureau and add evidence along the way. Keeps each bureau's case set
(the cases it handles or submitted), which a transfer moves."""

from __future__ import annotations

from google.protobuf.message import Message

from ipcoord.intake import matching, normalise
from ipcoord.intake.domain.shared import Command, Rules, Standing, require
from ipcoord.intake.state import OPEN_STATUSES, Case, IntakeState
from ipcoord.intake.validation import check_evidence, check_known_bureau, validate_decision
from ipcoord.platform import caseset
from ipcoord.platform.errors import IllegalTransition, InvalidInput, NotFound, NotPermitted
from ipcoord.v1 import intake_pb2 as S

# The statuses each command may start from ...
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
# ... and the status each fact leaves the case in (transfer and evidence keep it).
_STATUS_AFTER = {
    S.CaseAccepted: S.CASE_STATUS_ACCEPTED,
    S.CaseRejected: S.CASE_STATUS_REJECTED,
    S.CaseAssigned: S.CASE_STATUS_ASSIGNED,
    S.InvestigationStarted: S.CASE_STATUS_UNDER_INVESTIGATION,
    S.CaseDecided: S.CASE_STATUS_DECIDED,
    S.CaseClosed: S.CASE_STATUS_CLOSED,
}


def status_name(status: int) -> str:
    return S.CaseStatus.Name(status).removeprefix("CASE_STATUS_").lower().replace("_", " ")


# ------------------------------------------------------------------------------ decide


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
            require(body.reason, "reason")
            return [S.CaseRejected(case_id=case.case_id, by_bureau=actor, reason=body.reason)]
        case S.AssignCase():
            require(body.assignee, "assignee")
            return [S.CaseAssigned(case_id=case.case_id, by_bureau=actor, assignee=body.assignee)]
        case S.StartInvestigation():
            return [S.InvestigationStarted(case_id=case.case_id, by_bureau=actor)]
        case S.DecideCase():
            online_keys = [] if body.decision.respondent_uscc else _online_only_keys(case)
            violations = validate_decision(
                body.decision, rules.uscc_allow, known_only_online=bool(online_keys)
            )
            if violations:
                raise InvalidInput(violations)
            return [
                S.CaseDecided(
                    case_id=case.case_id,
                    by_bureau=actor,
                    decision=body.decision,
                    right_holder=case.report.right_holder,
                    respondent_online_keys=online_keys,
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


DECIDERS = {command: _lifecycle for command in _FROM}

# ------------------------------------------------------------------------------ evolve


def _change(case: Case, e: Message) -> str:
    """Apply a lifecycle fact to its case; the summary its history entry gets."""
    if type(e) in _STATUS_AFTER:
        case.status = _STATUS_AFTER[type(e)]
    match e:
        case S.CaseAssigned():
            case.assignee = e.assignee
            return f"assigned to {e.assignee}"
        case S.CaseRejected() | S.CaseClosed():
            return f"{type(e).__name__}: {e.reason}"
        case S.CaseDecided():
            case.decision = e.decision
            if e.decision.infringement_established:
                return "infringement established"
            return "no infringement established"
        case S.CaseTransferred():
            case.handling_bureau = e.to_bureau
            return f"transferred {e.from_bureau} -> {e.to_bureau}: {e.reason}"
        case S.EvidenceAdded():
            if all(ev.sha256 != e.evidence.sha256 for ev in case.evidence):
                case.evidence.append(e.evidence)
            return f"evidence {e.evidence.sha256[:12]}"
    return type(e).__name__


# How each fact changes the case it is about (case_facts.py applies them).
CASE_CHANGES = {t: _change for t in (*_STATUS_AFTER, S.CaseTransferred, S.EvidenceAdded)}


# ------------------------------------------------------------------------------ bureaus' cases


def index_bureaus(state: IntakeState, case: Case) -> None:
    """A filed case joins the case sets of the bureau handling it and of the one that
    submitted it (ListCases by bureau)."""
    for bureau in dict.fromkeys([case.handling_bureau, case.submitting_bureau]):
        caseset.add(state.bureau_cases, bureau, case.case_id)


def follow(state: IntakeState, case: Case, before: Standing) -> None:
    """A transfer moves the case from its former handler's set to its new handler's; the
    submitter keeps it. A function of the case as it now stands: the same fact again (its
    handler unchanged) moves nothing."""
    if before.handling_bureau == case.handling_bureau:
        return
    caseset.add(state.bureau_cases, case.handling_bureau, case.case_id)
    if before.handling_bureau != case.submitting_bureau:
        caseset.remove(state.bureau_cases, before.handling_bureau, case.case_id)


def _online_only_keys(case: Case) -> list[str]:
    """The online keys of the case's respondents known only online: a decision that names no
    USCC is against them, and credit records counts it once intake identifies one."""
    keys: dict[str, None] = {}
    for respondent in case.report.respondents:
        if normalise.normalise_uscc(respondent.entity.uscc):
            continue
        for identifier in respondent.online_identifiers:
            keys.update(dict.fromkeys(matching.online_keys(identifier)))
    return list(keys)
