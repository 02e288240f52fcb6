"""Lookups the gRPC API answers (queries.py) and the Kafka keys intake writes (keys.py)."""

from __future__ import annotations

import contextlib
import itertools
import random
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from ipcoord.intake import matching, queries
from ipcoord.intake.domain import Command, Meta, Rules, case_id_for, decide, evolve
from ipcoord.intake.keys import command_key, fact_key, submission_key
from ipcoord.intake.state import IntakeState
from ipcoord.platform import caseset, codec
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.errors import DomainError, InvalidInput, NotFound
from ipcoord.v1 import intake_pb2 as S
from support.reports import report, uscc
from support.stores import each_store, fresh  # noqa: F401  (each test once per store)

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
    state = fresh()
    for i in range(6):
        bureau = "ipb-sz" if i % 2 else "amr-sz"
        run(state, report(f"R{i}", respondent_uscc=uscc(i)), bureau)
    # Launched after the filings, so no case joined it automatically.
    launch = S.LaunchSpecialAction(action_id="A1", title="t")
    launch.starts_at.FromDatetime(T0 - timedelta(days=1))
    launch.ends_at.FromDatetime(T0 + timedelta(days=30))
    run(state, launch, "ipb-sz")
    return state


def _cases(state: IntakeState, page_size: int = 2, **filters) -> list[str]:
    """Every case id the filters give, page by page (two a page)."""
    return [c for page in _pages(state, page_size, **filters) for c in page]


def _pages(state: IntakeState, page_size: int, **filters) -> list[list[str]]:
    request, pages = S.ListCasesRequest(**filters), []
    request.page.page_size = page_size
    while True:
        page = queries.list_cases(state, request)
        pages.append([c.case_id for c in page.cases])
        assert len(page.cases) <= page_size
        if not page.next_page_token:
            return pages
        assert page.next_page_token == page.cases[-1].case_id
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


_BUREAUS = ["ipb-sz", "amr-sz", "ipb-gd", "amr-sh"]


def _brute_force(state: IntakeState, request: S.ListCasesRequest) -> list[str]:
    """What ListCases gave before any index by bureau: every case, filtered one by one (an
    action, else a respondent, names the cases; bureau and status are checked on each)."""
    found = []
    for case_id in sorted(state.cases):
        case = state.cases[case_id]
        if request.action_id:
            if request.action_id not in case.action_ids:
                continue
        elif request.respondent_uscc:
            key = matching.uscc_key(request.respondent_uscc)
            if key not in state.with_identities(case.match_keys):
                continue
        if request.bureau and request.bureau not in (case.handling_bureau, case.submitting_bureau):
            continue
        if request.status and case.status != request.status:
            continue
        found.append(case_id)
    return found


def _busy_state(rng: random.Random) -> IntakeState:
    """Cases filed by several bureaus, handled by others, accepted, rejected, enrolled,
    identified, and transferred, some several times and some back to their submitter."""
    state = fresh()
    for i in range(160):
        submitter = rng.choice(_BUREAUS)
        handling = rng.choice(["", *_BUREAUS])
        # A report sharing a key with an open case would be linked into it: keys of its own,
        # and every fourth case known by its seller only until someone identifies it.
        respondent = "" if i % 4 == 0 else uscc(i)
        body = report(f"R{i}", respondent_uscc=respondent, seller=f"s{i}", handling=handling)
        run(state, body, submitter)
    # Launched after the filings: enrolled by hand only.
    launch = S.LaunchSpecialAction(action_id="A1", title="t", participating_bureaus=_BUREAUS)
    launch.starts_at.FromDatetime(T0 - timedelta(days=1))
    launch.ends_at.FromDatetime(T0 + timedelta(days=30))
    run(state, launch, "ipb-sz")
    for bureau in _BUREAUS[1:]:
        run(state, S.JoinSpecialAction(action_id="A1"), bureau)
    for _ in range(400):
        case = state.cases[rng.choice(sorted(state.cases))]
        kind = rng.choice(["transfer", "transfer", "accept", "reject", "enrol", "identify"])
        body = {
            "transfer": S.TransferCase(
                case_id=case.case_id,
                to_bureau=rng.choice([case.submitting_bureau, *_BUREAUS]),
                reason="r",
            ),
            "accept": S.AcceptCase(case_id=case.case_id),
            "reject": S.RejectCase(case_id=case.case_id, reason="r"),
            "enrol": S.EnrollCases(action_id="A1", case_ids=[case.case_id]),
            "identify": S.IdentifyRespondent(
                online_identifier={"platform": "taobao", "seller_id": f"s{rng.randrange(160)}"},
                entity={"uscc": uscc(1000 + rng.randrange(3))},
            ),
        }[kind]
        with contextlib.suppress(DomainError):  # a refused command changes nothing
            run(state, body, case.handling_bureau)
    return state


def test_list_cases_pages_give_what_filtering_every_case_gives():
    """Every page of every filter combination, on a state built by decide and evolve with
    transfers, against a brute-force filter over all cases; small case-set nodes so the sets
    split and, as cases are transferred away, fall back to leaves."""
    with mock.patch.object(caseset, "LEAF_SIZE", 4):
        state = _busy_state(random.Random(7))
        transferred = [c for c in state.cases.values() if "transferred" in str(c.history)]
        assert len(transferred) > 40
        combos = itertools.product(
            ["", *_BUREAUS, "customs-gz"],
            [0, S.CASE_STATUS_FILED, S.CASE_STATUS_ACCEPTED, S.CASE_STATUS_REJECTED],
            ["", "A1"],
            ["", uscc(5), uscc(1000), uscc(1001)],
        )
        for bureau, status, action_id, respondent in combos:
            filters = dict(
                bureau=bureau, status=status, action_id=action_id, respondent_uscc=respondent
            )
            expected = _brute_force(state, S.ListCasesRequest(**filters))
            for size in (1, 3, 50):
                pages = _pages(state, size, **filters)
                assert [c for page in pages for c in page] == expected, (filters, size)
                assert all(len(page) == size for page in pages[:-1])
                assert pages[-1] or len(pages) == 1  # no empty last page
        # And each bureau's case set is the one its cases as they stand would build.
        rebuilt: dict = {}
        for case in state.cases.values():
            for bureau in (case.handling_bureau, case.submitting_bureau):
                caseset.add(rebuilt, bureau, case.case_id)
        assert state.bureau_cases == rebuilt


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
