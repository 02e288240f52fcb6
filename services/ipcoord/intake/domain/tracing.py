"""Source tracing: the match index (the cases under each source key, ranked by filing time
while a report may still join them), identifying a seller as an enterprise, and the links
between cases that turn out to share a source."""

from __future__ import annotations

import bisect

from google.protobuf.message import Message

from ipcoord.intake import matching
from ipcoord.intake.domain.shared import Command, Meta, Rules, Standing, history
from ipcoord.intake.state import LINKABLE_STATUSES, Case, IntakeState, Link
from ipcoord.intake.validation import check_uscc
from ipcoord.platform import caseset
from ipcoord.platform.errors import InvalidInput, Violation
from ipcoord.v1 import intake_pb2 as S

# ------------------------------------------------------------------------------ match index


def linkable_case(keys: list[str], state: IntakeState) -> tuple[str, str] | None:
    """The open case a report belongs to: for the most specific key that matches any, the
    earliest filed (ties broken by case id, so replays agree). One read per key: the match
    index ranks its cases by filing time while they are linkable."""
    for key in keys:
        first = state.first_linkable(key)
        if first:
            return first, key
    return None


def _rank(case: Case):
    """A case's rank in the match index: its filing time while a report may join it."""
    return case.filed_at if case.status in LINKABLE_STATUSES else None


def index_all(state: IntakeState, keys: list[str], case: Case) -> None:
    """Index a case under its keys and under the USCCs its online ids were identified as, so
    filing and identification give the same index in whichever order a replay reads them.
    A case is always indexed under exactly ``with_identities(case.match_keys)``, with its
    current rank: that is what lets evolve re-rank it when it stops being linkable."""
    for key in state.with_identities(keys):
        caseset.add(state.match_index, key, case.case_id, _rank(case))


def follow(state: IntakeState, case: Case, before: Standing) -> None:
    """Re-rank a changed case where it became, or stopped being, linkable."""
    if (before.status in LINKABLE_STATUSES) != (case.status in LINKABLE_STATUSES):
        index_all(state, case.match_keys, case)


# ------------------------------------------------------------------------------ decide


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
            online_identifier=body.online_identifier,
            entity=body.entity,
            by_bureau=cmd.actor,
            online_keys=online,
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


DECIDERS = {S.IdentifyRespondent: _identify}

# ------------------------------------------------------------------------------ evolve


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


def _on_cases_linked(state: IntakeState, e: S.CasesLinked, meta: Meta) -> None:
    # Only the keyed case changes; decide emits one CasesLinked per side.
    case = state.cases.get(e.case_id)
    if case is None or any(link.case_id == e.linked_case_id for link in case.links):
        return
    link = Link(e.linked_case_id, e.basis, e.match_key)
    bisect.insort(case.links, link, key=lambda x: x.case_id)
    history(case, e, meta, f"linked with {e.linked_case_id} on {e.match_key}")
    state.cases[e.case_id] = case


EVOLVERS = {
    S.RespondentIdentified: _on_identified,
    S.CasesLinked: _on_cases_linked,
}
