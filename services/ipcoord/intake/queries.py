"""Lookups over intake's state, for the gRPC API: a case, a page of cases, a respondent's
cases, an action's progress, and what the matcher alone knows of cases. Pure reads: a refusal
raises a domain error (``api.py`` maps it to a status).

The case writers' lookups read every partition (a page of cases, a respondent's cases): each
replica answers for the partitions it holds (``within``: whether a case id is in them), and
the merges below make one answer of theirs. The matcher's (an action's progress, the
description of cases) read its one partition."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from ipcoord.intake import domain, matching
from ipcoord.intake.state import IntakeState
from ipcoord.intake.views import case_view, related_cases
from ipcoord.platform import pages
from ipcoord.platform.errors import InvalidInput, NotFound, Violation
from ipcoord.v1 import intake_pb2 as S

DEFAULT_PAGE = 50
MAX_PAGE = 500

Within = Callable[[str], bool]  # whether a case id is in the partitions answered for


def get_case(state: IntakeState, case_id: str) -> S.CaseView:
    case = state.cases.get(case_id)
    if case is None:
        raise NotFound(f"no case {case_id!r}")
    return case_view(case, state, with_related=False)


def list_cases(
    state: IntakeState, request: S.ListCasesRequest, within: Within = lambda _: True
) -> S.ListCasesResponse:
    """A page of cases in ascending case id after the page token, filtered by bureau (handling
    or submitting), status, action and respondent; the next page's token is the page's last
    case id, "" at the end. It pages through one case set (``_candidates``) and checks the
    other filters case by case, so it reads the cases of that set up to the page's end."""
    size = _page_size(request)
    page, next_token = [], ""
    for case_id in _candidates(state, request, after=request.page.page_token):
        if not within(case_id):
            continue
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
        page.append(case_view(case, state, with_history=False, with_related=False))
    return S.ListCasesResponse(cases=page, next_page_token=next_token)


def merged_page(
    request: S.ListCasesRequest, answers: Sequence[S.ListCasesResponse]
) -> S.ListCasesResponse:
    """One page of several replicas' pages (each the first cases after the token among its
    partitions): the first ``size`` of them all are the first ``size`` overall."""
    page, token = pages.merged(
        (a.cases for a in answers),
        key=lambda c: c.case_id,
        size=_page_size(request),
        more=any(a.next_page_token for a in answers),
    )
    return S.ListCasesResponse(cases=page, next_page_token=token)


def _page_size(request: S.ListCasesRequest) -> int:
    return min(request.page.page_size or DEFAULT_PAGE, MAX_PAGE)


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


def respondent_keys(state: IntakeState, request: S.GetRespondentHistoryRequest) -> list[str]:
    """The respondent's keys (its USCC, else its online identifier's) and the USCCs its online
    identifiers were identified as."""
    if request.uscc:
        keys = [matching.uscc_key(request.uscc)]
    else:
        keys = matching.online_keys(request.online_identifier)
    if not keys:
        raise InvalidInput([Violation("uscc", "give a USCC or an online identifier")])
    return state.with_identities(keys)


def respondent_history(
    state: IntakeState, request: S.GetRespondentHistoryRequest, within: Within = lambda _: True
) -> S.RespondentHistory:
    """Every case under the respondent's keys (``respondent_keys``), by case id."""
    keys = respondent_keys(state, request)
    case_ids = sorted({c for key in keys for c in state.cases_with_key(key) if within(c)})
    cases = [state.cases.get(c) for c in case_ids]
    return S.RespondentHistory(
        match_key=keys[0],
        cases=[case_view(c, state, with_history=False, with_related=False) for c in cases if c],
    )


def merged_history(answers: Sequence[S.RespondentHistory]) -> S.RespondentHistory:
    """One history of several replicas' (each every case of its partitions), by case id."""
    cases = sorted((c for a in answers for c in a.cases), key=lambda c: c.case_id)
    return S.RespondentHistory(match_key=answers[0].match_key if answers else "", cases=cases)


def action_progress(state: IntakeState, action_id: str) -> S.ActionProgress:
    """From the counts evolve keeps: one read, however many cases the action holds."""
    return domain.action_progress(action_id, state)


def describe_cases(state: IntakeState, case_ids: Sequence[str]) -> S.DescribeCasesResponse:
    """What the matcher alone knows of each case it has (one it has not filed yet is left
    out): the cases it is linked with or shares a source key with, its special actions (the
    matcher decides every enrolment) and their members."""
    described = S.DescribeCasesResponse()
    for case_id in dict.fromkeys(case_ids):
        case = state.cases.get(case_id)
        if case is None:
            continue
        participants: dict[str, None] = {}
        for action_id in case.action_ids:
            action = state.actions.get(action_id)
            if action is not None:
                participants.update(dict.fromkeys(action.members))
        description = described.cases.add(
            case_id=case_id, action_ids=case.action_ids, participating_bureaus=participants
        )
        for link in related_cases(case, state):
            description.links.add(case_id=link.case_id, basis=link.basis, match_key=link.match_key)
    return described
