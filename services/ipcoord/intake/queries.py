"""Lookups over intake's state, for the gRPC API: a case, a page of cases, a respondent's
cases, an action's progress. Pure reads: a refusal raises a domain error (``api.py`` maps it
to a status)."""

from __future__ import annotations

from collections.abc import Iterator

from ipcoord.intake import domain, matching
from ipcoord.intake.state import IntakeState
from ipcoord.intake.views import case_view
from ipcoord.platform.errors import InvalidInput, NotFound, Violation
from ipcoord.v1 import intake_pb2 as S

DEFAULT_PAGE = 50
MAX_PAGE = 500


def get_case(state: IntakeState, case_id: str) -> S.CaseView:
    case = state.cases.get(case_id)
    if case is None:
        raise NotFound(f"no case {case_id!r}")
    return case_view(case, state)


def list_cases(state: IntakeState, request: S.ListCasesRequest) -> S.ListCasesResponse:
    """A page of cases in ascending case id after the page token, filtered by bureau (handling
    or submitting), status, action and respondent; the next page's token is the page's last
    case id, "" at the end. It pages through one case set (``_candidates``) and checks the
    other filters case by case, so it reads the cases of that set up to the page's end."""
    size = min(request.page.page_size or DEFAULT_PAGE, MAX_PAGE)
    page, next_token = [], ""
    for case_id in _candidates(state, request, after=request.page.page_token):
        case = state.cases.get(case_id)
        if case is None:
            continue
        if request.bureau and request.bureau not in (
            case.handling_bureau,
            case.submitting_bureau,
        ):
            continue
        if request.status and case.status != request.status:
            continue
        if len(page) == size:
            next_token = page[-1].case_id
            break
        page.append(case_view(case, state, with_history=False))
    return S.ListCasesResponse(cases=page, next_page_token=next_token)


def _candidates(state: IntakeState, request: S.ListCasesRequest, *, after: str) -> Iterator[str]:
    """Ascending case ids after ``after``, from the narrowest case set the request names (an
    action's cases, else a respondent's, else a bureau's), as many nodes as the page needs.
    With none of them (no filter, or status alone) every case id is listed and sorted: a scan.
    An action given with a respondent lists the action's cases, the respondent is not checked."""
    if request.action_id:
        return state.cases_of_action(request.action_id, after=after)
    if request.respondent_uscc:
        return state.cases_with_key(matching.uscc_key(request.respondent_uscc), after=after)
    if request.bureau:
        return state.cases_of_bureau(request.bureau, after=after)
    return iter(sorted(c for c in state.cases if c > after))


def respondent_history(
    state: IntakeState, request: S.GetRespondentHistoryRequest
) -> S.RespondentHistory:
    """Every case under the respondent's key (its USCC, else its online identifier's keys) and
    under the USCCs its online identifiers were identified as, by case id."""
    if request.uscc:
        keys = [matching.uscc_key(request.uscc)]
    else:
        keys = matching.online_keys(request.online_identifier)
    if not keys:
        raise InvalidInput([Violation("uscc", "give a USCC or an online identifier")])
    keys = state.with_identities(keys)
    case_ids = sorted({c for key in keys for c in state.cases_with_key(key)})
    cases = [state.cases.get(c) for c in case_ids]
    return S.RespondentHistory(
        match_key=keys[0],
        cases=[case_view(c, state, with_history=False) for c in cases if c],
    )


def action_progress(state: IntakeState, action_id: str) -> S.ActionProgress:
    """From the counts evolve keeps: one read, however many cases the action holds."""
    return domain.action_progress(action_id, state)
