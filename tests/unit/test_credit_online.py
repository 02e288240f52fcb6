"""Respondents known only online: decisions wait under their online keys until intake
identifies the entity behind one, then count against it (and later ones at once); bounded;
the relays make the right commands of intake's facts and of credit's own releases."""

from __future__ import annotations

import asyncio

import pytest
from ipcoord.credit.domain import Command, Meta, decide, evolve
from ipcoord.credit.state import HELD_DECISIONS_KEPT, CreditState, online_subject
from ipcoord.credit.state_codecs import CODECS
from ipcoord.credit.stream import from_intake, publishing_releases, released_decision
from ipcoord.platform import codec
from ipcoord.platform.errors import IllegalTransition, InvalidInput
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import intake_pb2 as S
from support.credit import RULES, T0, decided, names, run
from support.reports import uscc

SHOP = "shop:shop.example.com/copycat"
SELLER = "seller:taobao:copycat-88"


def _hold(case: str, key: str = SHOP, **kwargs) -> C.HoldDecidedCase:
    note = decided(case, "", **kwargs)
    note.ClearField("respondent")
    return C.HoldDecidedCase(online_key=key, decision=note)


def _identify(entity: str, key: str = SHOP) -> C.IdentifyOnlineRespondent:
    return C.IdentifyOnlineRespondent(
        online_key=key, entity={"uscc": entity, "name": "Copycat Ltd."}, by_bureau="ipb-sz"
    )


def _count_released(state: CreditState, events) -> list:
    """What the service does with a release: the entity's writer notes the decision."""
    made = []
    for event in events:
        if isinstance(event, C.DecidedCaseReleased):
            made += run(state, event.decision, actor=event.decision.by_bureau)
    return made


def test_decisions_wait_for_the_entity_then_count_against_it_and_list_it():
    state, entity = CreditState(), uscc(40)
    assert names(run(state, _hold("web-1"))) == ["DecidedCaseHeld"]
    assert names(run(state, _hold("web-2"))) == ["DecidedCaseHeld"]
    assert not state.files  # no entity to record on yet
    assert [d.case_id for d in state.respondents[online_subject(SHOP)].held] == ["web-1", "web-2"]

    released = run(state, _identify(entity))
    assert names(released) == ["OnlineRespondentIdentified", *["DecidedCaseReleased"] * 2]
    assert {e.decision.respondent.uscc for e in released[1:]} == {entity}
    counted = _count_released(state, released)
    assert names(counted) == [
        "DishonestyRecorded",
        "DishonestyRecorded",
        "SeriousDishonestyListed",
    ]
    respondent = state.respondents[online_subject(SHOP)]
    assert (respondent.uscc, respondent.held) == (entity, [])


def test_a_decision_after_the_identification_counts_at_once():
    state, entity = CreditState(), uscc(41)
    run(state, _identify(entity))
    [released] = run(state, _hold("web-3"))
    assert isinstance(released, C.DecidedCaseReleased)
    assert released.decision.respondent.uscc == entity
    assert names(_count_released(state, [released])) == ["DishonestyRecorded"]


def test_repeats_change_nothing_and_a_second_entity_is_refused():
    state, entity = CreditState(), uscc(42)
    run(state, _hold("web-4"))
    assert run(state, _hold("web-4")) == []  # relayed again
    assert run(state, _hold("web-5", established=False)) == []  # nothing to count
    released = run(state, _identify(entity))
    assert run(state, _identify(entity)) == []  # identified again
    with pytest.raises(IllegalTransition, match=entity):
        run(state, _identify(uscc(43)))
    # A release relayed twice is one record: the entity's writer knows the case.
    _count_released(state, released)
    assert _count_released(state, released) == []


def test_decisions_held_under_one_key_are_bounded():
    state = CreditState()
    for n in range(HELD_DECISIONS_KEPT):
        evolve(state, C.DecidedCaseHeld(online_key=SELLER, decision=decided(f"w{n}", "")), _meta())
    with pytest.raises(IllegalTransition, match="IdentifyRespondent"):
        run(state, _hold("one-more", SELLER))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_hold("web-6", key="uscc:91440300X"), "online_key"),
        (_hold("web-7", key="shop:" + "x" * 400), "online_key"),
        (_identify(uscc(44), key="fp:abc"), "online_key"),
        (_identify("91440300BAD"), "entity.uscc"),
    ],
)
def test_bad_keys_and_entities_are_refused_with_the_field(body, field):
    with pytest.raises(InvalidInput) as refused:
        run(CreditState(), body)
    assert field in [v.field for v in refused.value.violations]


def test_an_online_respondent_round_trips_through_its_table_codec():
    state = CreditState()
    run(state, _hold("web-8"))
    run(state, _hold("web-9", key=SELLER))
    run(state, _identify(uscc(45), key=SELLER))
    codec_ = CODECS["respondents"]
    for respondent in state.respondents.values():
        data = codec_.encode(respondent)
        assert codec_.decode(data) == respondent


def _meta() -> Meta:
    return Meta("evt", T0)


def _intake_fact(body) -> codec.Envelope:
    return codec.envelope(body, producer_bureau="ipcoord-intake", subject_key="k", occurred_at=T0)


def test_intake_facts_make_one_command_per_online_key_with_distinct_ids():
    online_decision = _intake_fact(
        S.CaseDecided(
            case_id="web-10",
            by_bureau="ipb-sz",
            decision=S.Decision(infringement_established=True),
            respondent_online_keys=[SELLER, SHOP],
        )
    )
    held = from_intake(online_decision)
    assert [e.subject_key for e in held] == [online_subject(SELLER), online_subject(SHOP)]
    assert len({e.event_id for e in held}) == 2
    assert [e.event_id for e in from_intake(online_decision)] == [e.event_id for e in held]
    identified = from_intake(
        _intake_fact(
            S.RespondentIdentified(
                entity={"uscc": uscc(46)}, by_bureau="ipb-sz", online_keys=[SELLER, SHOP]
            )
        )
    )
    assert [codec.body_of(e).WhichOneof("command") for e in identified] == [
        "identify_online_respondent"
    ] * 2
    by_uscc = from_intake(
        _intake_fact(
            S.CaseDecided(
                case_id="c-1",
                by_bureau="ipb-sz",
                decision=S.Decision(infringement_established=True, respondent_uscc=uscc(47)),
            )
        )
    )
    assert [e.subject_key for e in by_uscc] == [uscc(47)]
    assert from_intake(_intake_fact(S.CaseClosed(case_id="c-1"))) == []


def test_a_release_becomes_a_note_for_the_entitys_writer():
    state = CreditState()
    run(state, _hold("web-11"))
    [_, released] = decide(Command(_identify(uscc(48)), "ipb-sz", "i", T0), state, RULES)
    fact = codec.envelope(released, producer_bureau="ipb-sz", subject_key=uscc(48))
    made = released_decision(fact)
    assert made.subject_key == uscc(48)
    assert codec.body_of(made).note_decided_case.respondent.uscc == uscc(48)
    assert released_decision(_intake_fact(C.DecidedCaseHeld(online_key=SHOP))) is None


async def test_the_writer_sends_the_counting_command_with_the_release_it_publishes():
    """ipcoord.credit.v1, which every bureau reads, is never an input: the command that
    counts a released decision leaves with the fact."""
    sent: list[tuple[str, str]] = []

    def publisher(topic: str):
        async def publish(key, env, traceparent=None):
            sent.append((topic, key))
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

        return publish

    publish = publishing_releases(publisher("credit"), publisher("commands"))
    state = CreditState()
    run(state, _hold("web-12"))
    events = decide(Command(_identify(uscc(49)), "ipb-sz", "i", T0), state, RULES)
    for event in events:
        env = codec.envelope(event, producer_bureau="ipb-sz", subject_key=uscc(49))
        await (await publish(env.subject_key, env))
    assert sent == [("credit", uscc(49)), ("credit", uscc(49)), ("commands", uscc(49))]
