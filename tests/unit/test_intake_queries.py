"""Lookups the gRPC API answers (queries.py) and the Kafka keys intake writes (keys.py)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from ipcoord.intake import queries
from ipcoord.intake.domain import Command, Meta, Rules, case_id_for, decide, evolve
from ipcoord.intake.keys import command_key, fact_key, submission_key
from ipcoord.intake.state import IntakeState
from ipcoord.platform import codec
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.errors import InvalidInput, NotFound
from ipcoord.v1 import intake_pb2 as S
from support.reports import report, uscc

RULES = Rules(bureaus=BureauRegistry.demo())
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_commands = itertools.count()


def run(state: IntakeState, body, actor: str) -> None:
    n = next(_commands)
    at = T0 + timedelta(minutes=n)
    for i, event in enumerate(decide(Command(body, actor, f"cmd-{n}", at), state, RULES)):
        evolve(state, event, Meta(f"evt-{n}-{i}", at, actor))


@pytest.fixture
def state() -> IntakeState:
    """Six cases, three filed by each of two bureaus, each against a respondent of its own."""
    state = IntakeState()
    for i in range(6):
        bureau = "ipb-sz" if i % 2 else "amr-sz"
        run(state, report(f"R{i}", respondent_uscc=uscc(i)), bureau)
    # Launched after the filings, so no case joined it automatically.
    launch = S.LaunchSpecialAction(action_id="A1", title="t")
    launch.starts_at.FromDatetime(T0 - timedelta(days=1))
    launch.ends_at.FromDatetime(T0 + timedelta(days=30))
    run(state, launch, "ipb-sz")
    return state


def _cases(state: IntakeState, **filters) -> list[str]:
    """Every case id the filters give, page by page (two a page)."""
    request, found = S.ListCasesRequest(**filters), []
    request.page.page_size = 2
    while True:
        page = queries.list_cases(state, request)
        found += [c.case_id for c in page.cases]
        assert len(page.cases) <= 2
        if not page.next_page_token:
            return found
        request.page.page_token = page.next_page_token


def test_list_cases_pages_through_every_case_in_case_id_order(state):
    assert len(state.cases) == 6
    assert _cases(state) == sorted(state.cases)
    request = S.ListCasesRequest()
    request.page.page_size = 6
    assert queries.list_cases(state, request).next_page_token == ""  # no empty last page


def test_list_cases_filters_by_bureau_status_action_and_respondent(state):
    ipb = sorted(case_id_for("ipb-sz", f"R{i}") for i in (1, 3, 5))
    amr = sorted(case_id_for("amr-sz", f"R{i}") for i in (0, 2, 4))
    assert _cases(state, bureau="ipb-sz") == ipb
    for case_id in ipb[:2]:
        run(state, S.AcceptCase(case_id=case_id), "ipb-sz")
    assert _cases(state, status=S.CASE_STATUS_ACCEPTED) == ipb[:2]
    assert _cases(state, status=S.CASE_STATUS_FILED) == sorted([*amr, ipb[2]])
    run(state, S.EnrollCases(action_id="A1", case_ids=[*amr, ipb[0]]), "ipb-sz")
    assert _cases(state, action_id="A1") == sorted([*amr, ipb[0]])
    assert _cases(state, action_id="A1", bureau="amr-sz") == amr
    assert _cases(state, respondent_uscc=uscc(1).lower()) == [case_id_for("ipb-sz", "R1")]
    assert _cases(state, respondent_uscc=uscc(1), bureau="amr-sz") == []


def test_respondent_history_by_uscc_or_identified_seller(state):
    history = queries.respondent_history(state, S.GetRespondentHistoryRequest(uscc=uscc(0)))
    assert [c.case_id for c in history.cases] == [case_id_for("amr-sz", "R0")]
    assert history.match_key == f"uscc:{uscc(0)}"
    seller = {"platform": "taobao", "seller_id": "s9"}
    run(state, report("R9", seller="s9"), "amr-sz")  # a seller nobody had identified
    run(state, S.IdentifyRespondent(online_identifier=seller, entity={"uscc": uscc(1)}), "ipb-sz")
    by_seller = S.GetRespondentHistoryRequest(online_identifier=seller)
    history = queries.respondent_history(state, by_seller)
    both = sorted([case_id_for("ipb-sz", "R1"), case_id_for("amr-sz", "R9")])
    assert [c.case_id for c in history.cases] == both
    assert history.match_key == f"uscc:{uscc(1)}"  # the USCC the seller was identified as
    with pytest.raises(InvalidInput):
        queries.respondent_history(state, S.GetRespondentHistoryRequest())


def test_get_case_and_action_progress_refuse_what_does_not_exist(state):
    assert queries.get_case(state, case_id_for("ipb-sz", "R1")).submitting_bureau == "ipb-sz"
    with pytest.raises(NotFound):
        queries.get_case(state, "nope")
    assert queries.action_progress(state, "A1").lead_bureau == "ipb-sz"
    with pytest.raises(NotFound):
        queries.action_progress(state, "nope")


def test_keys_of_commands_and_facts():
    assert command_key(report("R1"), "ipb-sz") == submission_key("ipb-sz", "R1") == "ipb-sz/R1"
    assert command_key(S.AcceptCase(case_id="c1"), "ipb-sz") == "c1"
    assert command_key(S.EnrollCases(action_id="A1", case_ids=["c1"]), "ipb-sz") == "A1"
    assert command_key(S.RemoveTargetEnterprise(uscc=uscc(1)), "ppc-shenzhen") == uscc(1)
    seller = {"platform": "Taobao", "seller_id": "S1", "shop_url": "https://shop.example/x"}
    identify = S.IdentifyRespondent(online_identifier=seller)
    assert command_key(identify, "ipb-sz") == "seller:taobao:s1,shop:shop.example/x"
    assert command_key(S.IdentifyRespondent(), "ipb-sz") == "identify"
    cause = codec.envelope(S.IntakeCommand(), producer_bureau="ipb-sz", subject_key="cmd")
    rejected = S.SubmissionRejected(submitting_bureau="ipb-sz", external_ref="R1")
    assert fact_key(rejected, cause) == "ipb-sz/R1"
    assert fact_key(S.RespondentIdentified(online_identifier=seller), cause) == "seller:taobao:s1"
    assert fact_key(S.CaseCommandRejected(), cause) == "cmd"
