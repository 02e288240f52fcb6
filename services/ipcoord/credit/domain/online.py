"""Respondents known only online. A case decided against a respondent with no USCC gives no
record: there is no entity to record it on. The decision is held under the respondent's online
keys until intake identifies the entity behind one of them (RespondentIdentified); then every
held decision is released against that entity, and a later decision under the key counts at
once. Each online key has one writer (commands keyed "online:<key>"), like an entity.

Released decisions reach the entity's writer as NoteDecidedCase commands (the service relays
DecidedCaseReleased, credit/stream.py), where a decision counted twice is recorded once.
"""

from __future__ import annotations

from google.protobuf.message import Message

from ipcoord.credit.domain.records import check_uscc, decision_violations
from ipcoord.credit.domain.shared import Command, Meta, Rules
from ipcoord.credit.state import (
    HELD_DECISIONS_KEPT,
    CreditState,
    OnlineRespondent,
    online_subject,
)
from ipcoord.platform.errors import IllegalTransition, InvalidInput, Violation
from ipcoord.v1 import common_pb2
from ipcoord.v1 import credit_pb2 as C

ONLINE_KEY_MAX = 300
_KINDS = ("seller:", "shop:")  # intake's online keys (intake/matching.py)


def check_online_key(online_key: str, field: str = "online_key") -> list[Violation]:
    if not online_key.startswith(_KINDS) or len(online_key) > ONLINE_KEY_MAX:
        return [
            Violation(
                field,
                f"an online key is 'seller:<platform>:<id>' or 'shop:<host/path>', at most "
                f"{ONLINE_KEY_MAX} characters",
            )
        ]
    return []


def respondent_of(state: CreditState, online_key: str) -> OnlineRespondent:
    return state.respondents.get(online_subject(online_key)) or OnlineRespondent(online_key)


# ------------------------------------------------------------------------------ decide


def _hold(cmd: Command, state: CreditState, rules: Rules) -> list[Message]:
    body: C.HoldDecidedCase = cmd.body
    decision = body.decision
    if not (decision.infringement_established or decision.refused_to_comply):
        return []  # nothing would be recorded, identified or not
    violations = check_online_key(body.online_key) + decision_violations(decision, rules)
    if violations:
        raise InvalidInput(violations)
    respondent = respondent_of(state, body.online_key)
    if respondent.uscc:
        return [_released(body.online_key, respondent, decision)]
    if any(held.case_id == decision.case_id for held in respondent.held):
        return []  # relayed again
    if len(respondent.held) >= HELD_DECISIONS_KEPT:
        raise IllegalTransition(
            f"{HELD_DECISIONS_KEPT} decisions already wait for the entity behind "
            f"{body.online_key!r} to be identified (IdentifyRespondent in intake)"
        )
    held = C.NoteDecidedCase()
    held.CopyFrom(decision)
    held.ClearField("respondent")  # no entity yet; the released decision names it
    return [C.DecidedCaseHeld(online_key=body.online_key, decision=held)]


def _identify(cmd: Command, state: CreditState, rules: Rules) -> list[Message]:
    body: C.IdentifyOnlineRespondent = cmd.body
    violations = check_online_key(body.online_key)
    if body.by_bureau not in rules.bureaus:
        violations.append(Violation("by_bureau", f"unknown bureau {body.by_bureau!r}"))
    if violations:
        raise InvalidInput(violations)
    check_uscc(body.entity.uscc, rules)
    respondent = respondent_of(state, body.online_key)
    if respondent.uscc == body.entity.uscc:
        return []  # identified again
    if respondent.uscc:
        raise IllegalTransition(
            f"{body.online_key!r} was identified as {respondent.uscc} already; its decisions "
            "count against that entity"
        )
    identified = C.OnlineRespondentIdentified(
        online_key=body.online_key, entity=body.entity, by_bureau=body.by_bureau
    )
    named = OnlineRespondent(body.online_key, body.entity.uscc, body.entity.name)
    return [identified, *(_released(body.online_key, named, d) for d in respondent.held)]


def _released(
    online_key: str, respondent: OnlineRespondent, decision: C.NoteDecidedCase
) -> C.DecidedCaseReleased:
    entity = common_pb2.Entity(uscc=respondent.uscc, name=respondent.name)
    counted = C.NoteDecidedCase()
    counted.CopyFrom(decision)
    counted.respondent.CopyFrom(entity)
    return C.DecidedCaseReleased(online_key=online_key, entity=entity, decision=counted)


DECIDERS = {C.HoldDecidedCase: _hold, C.IdentifyOnlineRespondent: _identify}

# ------------------------------------------------------------------------------ evolve
# These change the online respondent, not a credit file: each writes it back itself.


def _on_held(state: CreditState, e: C.DecidedCaseHeld, meta: Meta) -> None:
    respondent = respondent_of(state, e.online_key)
    if any(held.case_id == e.decision.case_id for held in respondent.held):
        return
    respondent.held.append(e.decision)
    state.respondents[online_subject(e.online_key)] = respondent


def _on_identified(state: CreditState, e: C.OnlineRespondentIdentified, meta: Meta) -> None:
    respondent = respondent_of(state, e.online_key)
    if respondent.uscc:
        return
    respondent.uscc, respondent.name = e.entity.uscc, e.entity.name
    state.respondents[online_subject(e.online_key)] = respondent


def _on_released(state: CreditState, e: C.DecidedCaseReleased, meta: Meta) -> None:
    respondent = respondent_of(state, e.online_key)
    kept = [held for held in respondent.held if held.case_id != e.decision.case_id]
    if len(kept) != len(respondent.held):
        respondent.held = kept
        state.respondents[online_subject(e.online_key)] = respondent


EVOLVERS = {
    C.DecidedCaseHeld: _on_held,
    C.OnlineRespondentIdentified: _on_identified,
    C.DecidedCaseReleased: _on_released,
}
