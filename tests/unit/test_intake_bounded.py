"""No table value grows with the number of cases or reports (issue 6, §2.3): every value the
domain writes to a stored table is encoded with its table's codec and measured, at 1,000 and
at 30,000. (The derived indexes live in memory; their case sets still keep nodes small.)"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ipcoord.intake.domain import (
    Command,
    Meta,
    Rules,
    action_progress,
    case_id_for,
    decide,
    evolve,
)
from ipcoord.intake.state import DERIVED_INDEXES, MATCH_KEYS_KEPT, IntakeState
from ipcoord.intake.state_codecs import CODECS
from ipcoord.platform import caseset
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.staged import Stage
from ipcoord.v1 import intake_pb2 as S
from support.reports import report, uscc

RULES = Rules(bureaus=BureauRegistry.demo())
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SMALL = 64 * 1024
MANY = 30_000
SELLER_KEY = "seller:taobao:z9"


class Table(dict):
    """A table: every value written is encoded with the table's codec, the largest is kept."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.codec = CODECS[name]  # what main.py registers for the Faust table
        self.largest = 0

    def __setitem__(self, key, value) -> None:
        self.largest = max(self.largest, len(self.codec.encode(value)))
        super().__setitem__(key, value)


@dataclass
class Tables:
    """The state as the processor writes it: a command's writes are staged, then applied."""

    state: IntakeState
    stage: Stage
    tables: dict[str, Table]

    def commit(self) -> None:
        self.stage.apply(self.stage.take())

    def largest(self) -> dict[str, int]:
        return {name: table.largest for name, table in self.tables.items() if name in CODECS}


def tables() -> Tables:
    stage = Stage()
    # The derived indexes are never stored (in memory in the service): nothing to measure.
    raw = {
        f.name: dict() if f.name in DERIVED_INDEXES else Table(f.name)
        for f in dataclasses.fields(IntakeState)
    }
    state = IntakeState(**{name: stage.wrap(name, table) for name, table in raw.items()})
    return Tables(state, stage, raw)


def assert_bounded(at_1000: dict[str, int], at_30000: dict[str, int]) -> None:
    """Small, and no larger with 30 times the cases (but for the digits of a count)."""
    assert max(at_30000.values()) < SMALL, at_30000
    for name, size in at_30000.items():
        assert size <= at_1000[name] * 1.02 + 8, (name, at_1000, at_30000)


_n = 0


def apply(t: Tables, *events, at=T0, bureau="ipb-sz") -> None:
    """The facts of one command."""
    global _n
    for event in events:
        _n += 1
        evolve(t.state, event, Meta(f"e-{_n}", at, bureau))
    t.commit()


def run(t: Tables, body, actor="ipb-sz", at=T0) -> list:
    """Decide and apply, as the processor does."""
    global _n
    _n += 1
    events = decide(Command(body, actor, f"cmd-{_n}", at), t.state, RULES)
    apply(t, *events, at=at, bureau=actor)
    return events


def launch(t: Tables, action_id="A1") -> None:
    launched = S.SpecialActionLaunched(
        action_id=action_id, lead_bureau="ipb-sz", title="t", participating_bureaus=["ipb-gd"]
    )
    launched.starts_at.FromDatetime(T0 - timedelta(days=1))
    launched.ends_at.FromDatetime(T0 + timedelta(days=30))
    apply(t, launched, S.SpecialActionJoined(action_id=action_id, bureau="ipb-gd"))


def file(t: Tables, ref: str, handler="ipb-sz", at=T0, enrol_in="", **report_fields) -> str:
    """File a case by its fact (enrolled in the same command if ``enrol_in``)."""
    case_id = case_id_for("ipb-sz", ref)
    filed = S.CaseFiled(
        case_id=case_id,
        submitting_bureau="ipb-sz",
        handling_bureau=handler,
        report=report(ref, **report_fields),
    )
    also = [S.CaseEnrolled(action_id=enrol_in, case_id=case_id, automatic=True)] if enrol_in else []
    apply(t, filed, *also, at=at)
    return case_id


def recount(state: IntakeState, action_id: str) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter] = {}
    for case in state.cases.values():
        if action_id in case.action_ids:
            by_status = counts.setdefault(case.handling_bureau, Counter())
            by_status[S.CaseStatus.Name(case.status)] += 1
    return {bureau: dict(by_status) for bureau, by_status in counts.items()}


def reported(progress: S.ActionProgress) -> dict[str, dict[str, int]]:
    return {b.bureau: dict(b.cases_by_status) for b in progress.bureaus if b.cases_by_status}


def test_an_action_with_30000_cases_is_small_values_and_counts_that_match_the_cases():
    t = tables()
    state = t.state
    launch(t)
    enrolled = []
    for i in range(MANY):
        handler = ("ipb-sz", "ipb-gd")[i % 2]
        case_id = file(t, f"E{i:05d}", handler, enrol_in="A1", respondent_uscc=uscc(i))
        enrolled.append(case_id)
        if i + 1 == 1_000:
            at_1000 = t.largest()
    at_30000 = t.largest()
    assert_bounded(at_1000, at_30000)

    # Through decide as well: an explicit enrolment, a report naming the action, a batch.
    run(t, report("D1", respondent_uscc=uscc(MANY + 1), action="A1"))
    enrolled.append(case_id_for("ipb-sz", "D1"))
    batch = [file(t, f"D{i}", respondent_uscc=uscc(MANY + i)) for i in (2, 3)]
    assert len(run(t, S.EnrollCases(action_id="A1", case_ids=[*batch, enrolled[0]]))) == 2
    enrolled += batch

    # Progress follows the cases as they move between statuses and bureaus.
    for case_id in enrolled[:3000:3]:
        apply(t, S.CaseAccepted(case_id=case_id, by_bureau="ipb-sz"))
    for case_id in enrolled[1:3000:3]:
        apply(t, S.CaseRejected(case_id=case_id, by_bureau="ipb-sz", reason="r"))
    for case_id in enrolled[:600:6]:
        apply(t, S.CaseTransferred(case_id=case_id, from_bureau="x", to_bureau="amr-sz"))
    apply(t, S.CaseAccepted(case_id=enrolled[0], by_bureau="ipb-sz"))  # applied twice
    progress = action_progress("A1", state)
    assert reported(progress) == recount(state, "A1")
    assert progress.total_cases == len(enrolled) == MANY + 3
    assert {b.bureau for b in progress.bureaus} >= {"ipb-sz", "ipb-gd", "amr-sz"}
    [concluded] = run(t, S.ConcludeSpecialAction(action_id="A1", summary="s"))
    assert concluded.final_progress == progress

    # ListCases by action pages through the action's case set in order, no scan.
    assert list(state.cases_of_action("A1")) == sorted(enrolled)
    middle = sorted(enrolled)[MANY // 2]
    page = list(zip(range(50), state.cases_of_action("A1", after=middle), strict=False))
    assert [c for _, c in page] == sorted(enrolled)[MANY // 2 + 1 : MANY // 2 + 51]
    assert max(t.largest().values()) < SMALL


def test_30000_cases_of_one_repeat_seller_keep_the_match_index_small_and_exact():
    t = tables()
    state = t.state
    cases = []
    for i in range(MANY):
        at = T0 + timedelta(seconds=i)
        case_id = file(t, f"S{i:05d}", at=at, respondent_uscc=uscc(i), seller="z9")
        cases.append(case_id)
        if i + 1 == 1_000:
            at_1000 = t.largest()
    at_30000 = t.largest()
    assert_bounded(at_1000, at_30000)
    assert list(state.cases_with_key(SELLER_KEY)) == sorted(cases)

    # A new report of the seller joins the earliest filed case still open, whichever it is.
    later = T0 + timedelta(days=1)
    [linked] = run(t, report("NEW-0", seller="z9"), at=later)
    assert (linked.case_id, linked.match_key) == (cases[0], SELLER_KEY)
    for n, gone in enumerate([cases[0], cases[1], cases[3]], start=1):
        run(t, S.RejectCase(case_id=gone, reason="r"), at=later)
        [linked] = run(t, report(f"NEW-{n}", seller="z9"), at=later)
        assert linked.case_id == cases[(0, 1, 2, 2)[n]]
    run(t, S.RejectCase(case_id=cases[2], reason="r"), at=later)
    # Identifying the seller puts all of its cases under the USCC, ranks and all.
    run(
        t,
        S.IdentifyRespondent(
            online_identifier={"platform": "taobao", "seller_id": "z9"},
            entity={"uscc": uscc(MANY + 7)},
        ),
        at=later,
    )
    identified = f"uscc:{uscc(MANY + 7)}"
    assert state.first_linkable(identified) == cases[4]
    assert sum(1 for _ in state.cases_with_key(identified)) == MANY
    assert max(t.largest().values()) < SMALL


def test_30000_cases_of_one_bureau_keep_its_case_set_small_and_follow_transfers():
    t = tables()
    state = t.state
    cases = []
    for i in range(MANY):
        handler = ("ipb-sz", "ipb-gd", "amr-sz")[i % 3]  # every case submitted by ipb-sz
        cases.append(file(t, f"B{i:05d}", handler, respondent_uscc=uscc(i)))
        if i + 1 == 1_000:
            at_1000 = t.largest()
    at_30000 = t.largest()
    assert_bounded(at_1000, at_30000)
    assert list(state.cases_of_bureau("ipb-sz")) == sorted(cases)
    assert list(state.cases_of_bureau("ipb-gd")) == sorted(cases[1::3])

    # A transfer moves a case between handlers' sets; the submitter keeps it.
    moved = cases[1:3000:3]  # ipb-gd's, to amr-sz
    for case_id in moved:
        apply(t, S.CaseTransferred(case_id=case_id, from_bureau="ipb-gd", to_bureau="amr-sz"))
    apply(t, S.CaseTransferred(case_id=moved[0], from_bureau="ipb-gd", to_bureau="amr-sz"))
    back = cases[2:300:3]  # amr-sz's, to ipb-sz which submitted them: amr-sz lets go
    for case_id in back:
        apply(t, S.CaseTransferred(case_id=case_id, from_bureau="amr-sz", to_bureau="ipb-sz"))
    assert list(state.cases_of_bureau("ipb-sz")) == sorted(cases)
    assert list(state.cases_of_bureau("ipb-gd")) == sorted(set(cases[1::3]) - set(moved))
    amr = (set(cases[2::3]) - set(back)) | set(moved)
    assert list(state.cases_of_bureau("amr-sz")) == sorted(amr)
    middle = sorted(amr)[len(amr) // 2]
    page = list(zip(range(20), state.cases_of_bureau("amr-sz", after=middle), strict=False))
    assert [c for _, c in page] == sorted(amr)[len(amr) // 2 + 1 : len(amr) // 2 + 21]
    assert max(t.largest().values()) < SMALL


def test_30000_reports_linked_into_one_case_keep_it_one_small_record():
    t = tables()
    state = t.state
    case_id = file(t, "FIRST", seller="z9")
    for i in range(MANY):
        hit = report(f"HIT-{i:05d}", seller="z9", fingerprint=f"ph:{i}", handling="ipb-sz")
        apply(
            t,
            S.ReportLinked(
                case_id=case_id,
                submitting_bureau="monitor-cnipa",
                external_ref=hit.external_ref,
                basis=S.LINK_BASIS_ONLINE_IDENTIFIER,
                match_key=SELLER_KEY,
                report=hit,
            ),
            bureau="monitor-cnipa",
        )
        if i + 1 == 1_000:
            at_1000 = t.largest()
    at_30000 = t.largest()
    assert_bounded(at_1000, at_30000)
    case = state.cases[case_id]
    assert case.linked_report_count == MANY
    assert len(case.match_keys) == MATCH_KEYS_KEPT  # the seller, then the first fingerprints
    assert state.first_linkable("fp:ph:0") == case_id
    assert state.first_linkable(f"fp:ph:{MANY - 1}") == ""  # past the cap: not traced
    # Through decide: the same hit again is a duplicate, a new one joins the case.
    again = report("HIT-00007", seller="z9", fingerprint="ph:7", handling="ipb-sz")
    assert run(t, again, actor="monitor-cnipa") == []
    new = report("HIT-NEW", seller="z9", handling="ipb-sz")
    [linked] = run(t, new, actor="monitor-cnipa")
    assert linked.case_id == case_id and state.cases[case_id].linked_report_count == MANY + 1


# ---------------------------------------------------------------------------------- case sets

_ops = st.lists(
    st.tuples(
        st.sampled_from(["a", "ab", "b", "ba", "bb", "c0", "c1", "c2", "c3", "abc", "d"]),
        st.one_of(st.none(), st.integers(0, 5)),
    ),
    max_size=40,
)


@given(_ops, st.randoms(use_true_random=False))
@settings(max_examples=200, deadline=None)
def test_a_case_set_is_a_function_of_its_members_whatever_the_order(ops, rng):
    """Members added (and re-ranked) in any order that keeps each member's own changes in
    order, as a replay of the partitioned log does, give the same values."""
    with mock.patch.object(caseset, "LEAF_SIZE", 2):  # split early and often
        _check_orders(ops, rng)


def _check_orders(ops, rng) -> None:
    live: dict = {}
    for case_id, minute in ops:
        caseset.add(live, "k", case_id, _at(minute))
    regrouped: dict = {}
    by_member: dict[str, list] = {}
    for case_id, minute in ops:
        by_member.setdefault(case_id, []).append(minute)
    members = list(by_member)
    rng.shuffle(members)
    for case_id in members:
        for minute in by_member[case_id]:
            caseset.add(regrouped, "k", case_id, _at(minute))
    for case_id, minute in ops:  # applied twice
        caseset.add(regrouped, "k", case_id, _at(minute))
    assert regrouped == live

    final = {case_id: _at(minutes[-1]) for case_id, minutes in by_member.items()}
    ranked = [(rank, c) for c, rank in final.items() if rank is not None]
    assert caseset.first(live, "k") == (min(ranked)[1] if ranked else "")
    assert list(caseset.items(live, "k")) == sorted(final.items())
    for after in ["", "a", "ab", "abd", "b", "c1", "z"]:
        assert list(caseset.ids(live, "k", after=after)) == sorted(c for c in final if c > after)


_changes = st.lists(
    st.tuples(
        st.sampled_from(["a", "ab", "b", "ba", "bb", "c0", "c1", "c2", "c3", "abc", "d"]),
        st.one_of(st.just("remove"), st.none(), st.integers(0, 5)),
    ),
    max_size=60,
)


@given(_changes, st.randoms(use_true_random=False))
@settings(max_examples=300, deadline=None)
def test_a_case_set_after_removals_is_the_one_its_remaining_members_build(changes, rng):
    """Ids added, re-ranked and removed: the values are those adding the members left, in any
    order, writes; removing an id not in the set (again) writes nothing."""
    with mock.patch.object(caseset, "LEAF_SIZE", 2):
        live: dict = {}
        final: dict = {}
        for case_id, change in changes:
            if change == "remove":
                caseset.remove(live, "k", case_id)
                final.pop(case_id, None)
            else:
                caseset.add(live, "k", case_id, _at(change))
                final[case_id] = _at(change)
        built: dict = {}
        members = list(final.items())
        rng.shuffle(members)
        for case_id, rank in members:
            caseset.add(built, "k", case_id, rank)
        assert live == built
        ranked = [(rank, c) for c, rank in final.items() if rank is not None]
        assert caseset.first(live, "k") == (min(ranked)[1] if ranked else "")
        for after in ["", "ab", "b", "c1", "z"]:
            assert list(caseset.ids(live, "k", after=after)) == sorted(
                c for c in final if c > after
            )
        before = dict(live)
        for case_id, _ in changes:
            if case_id not in final:
                caseset.remove(live, "k", case_id)
        assert live == before


def test_case_set_values_stay_small_and_the_shape_shallow():
    nodes: dict = {}
    ids = [case_id_for("ipb-sz", f"R{i}") for i in range(MANY)]
    random.Random(6).shuffle(ids)
    for i, case_id in enumerate(ids):
        caseset.add(nodes, "uscc:x", case_id, T0 + timedelta(seconds=i))
    # In memory now (a derived index), but a node still holds at most a leaf's worth of ids.
    assert max(len(node.members) + len(node.children or ()) for node in nodes.values()) <= (
        caseset.LEAF_SIZE
    )
    assert all(len(key.split("/")[0]) <= 4 for key in nodes)  # the id prefix of each node
    assert caseset.first(nodes, "uscc:x") == ids[0]
    with pytest.raises(ValueError):
        caseset.add(nodes, "uscc:x", "a/b")


def _at(minute: int | None) -> datetime | None:
    return None if minute is None else T0 + timedelta(minutes=minute)
