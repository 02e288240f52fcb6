"""How a fact about one case is applied, whichever sub-domain decided it: the sub-domain's
change to the case (its ``CASE_CHANGES``), a history entry, the write-back, then what follows
the case as it now stands: its watched deadlines (fast_track), its action memberships and
progress counts (actions), its rank in the match index (tracing), the case sets of the bureaus
handling and submitting it (lifecycle). Each of those is a function of the cases as they
stand, whatever order the facts came in, and a fact applied twice finds nothing to change the
second time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

from google.protobuf.message import Message

from ipcoord.intake.domain import actions, fast_track, lifecycle, tracing
from ipcoord.intake.domain.shared import Meta, history, standing
from ipcoord.intake.state import Case, IntakeState

# (case, fact) -> the summary of the fact in the case's history; changes the case in place.
CaseChange = Callable[[Case, Message], str]


def evolvers(changes: Mapping[type, CaseChange]) -> dict[type, Callable[..., None]]:
    """The evolve handler of each case fact, from how it changes its case."""
    return {fact: partial(_apply, change=change) for fact, change in changes.items()}


def _apply(state: IntakeState, e: Message, meta: Meta, *, change: CaseChange) -> None:
    case = state.cases.get(e.case_id)
    if case is None:
        return
    before = standing(case)
    summary = change(case, e)
    history(case, e, meta, summary)
    state.cases[e.case_id] = case
    fast_track.follow(state, case)
    if standing(case) != before:
        actions.follow(state, case, before)
        tracing.follow(state, case, before)
        lifecycle.follow(state, case, before)
