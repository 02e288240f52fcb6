"""Who hears about what: one case's lifecycle reaches its bureau, its actions' bureaus and its
right holder and nobody else; discipline reaches every implementing department; overdue work
escalates; subscriptions add recipients by their filters."""

from __future__ import annotations

from ipcoord.notifications.domain.routing import Directory, learn, routes
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import notifications_pb2 as N
from support.reports import RIGHT_HOLDER, report, uscc

CASE = "case-1"


def _heard(directory: Directory, event, subscriptions=()) -> dict[str, str]:
    learn(directory, event)
    return {r.recipient: r.reason for r in routes(directory, event, list(subscriptions))}


def _filed(directory: Directory, case_id: str = CASE) -> None:
    learn(
        directory,
        S.CaseFiled(
            case_id=case_id,
            submitting_bureau="monitor-cnipa",
            handling_bureau="ipb-sz",
            report=report("R1", respondent_uscc=uscc(1)),
        ),
    )


def test_a_cases_lifecycle_reaches_its_bureaus_and_right_holder_and_nobody_else():
    directory = Directory()
    _filed(directory)
    assert _heard(directory, S.CaseAccepted(case_id=CASE)) == {"ipb-sz": "handling-bureau"}
    learn(
        directory,
        S.SpecialActionLaunched(
            action_id="A1", lead_bureau="cnipa", participating_bureaus=["amr-sz", "ipb-sz"]
        ),
    )
    assert _heard(directory, S.CaseEnrolled(action_id="A1", case_id=CASE)) == {
        "ipb-sz": "handling-bureau",
        "cnipa": "action-participant",
        "amr-sz": "action-participant",
    }
    decided = S.CaseDecided(case_id=CASE, by_bureau="ipb-sz", right_holder={"uscc": RIGHT_HOLDER})
    assert _heard(directory, decided) == {
        "ipb-sz": "handling-bureau",
        RIGHT_HOLDER: "right-holder",
        "cnipa": "action-participant",
        "amr-sz": "action-participant",
    }
    moved = S.CaseTransferred(case_id=CASE, from_bureau="ipb-sz", to_bureau="ipb-gd")
    assert set(_heard(directory, moved)) == {"ipb-sz", "ipb-gd", "cnipa", "amr-sz"}
    # Another case of another bureau: none of these hear of it.
    _filed(directory, "case-2")
    directory.cases["case-2"].handling_bureau = "ipb-gd"
    assert _heard(directory, S.CaseAccepted(case_id="case-2")) == {"ipb-gd": "handling-bureau"}


def test_submitters_hear_of_their_rejected_and_linked_reports():
    directory = Directory()
    _filed(directory)
    rejected = S.SubmissionRejected(submitting_bureau="monitor-cnipa", external_ref="X")
    assert _heard(directory, rejected) == {"monitor-cnipa": "submitter"}
    linked = S.ReportLinked(case_id=CASE, submitting_bureau="ppc-shenzhen")
    assert _heard(directory, linked) == {"ipb-sz": "handling-bureau", "ppc-shenzhen": "submitter"}


def test_overdue_cases_escalate_to_their_bureau_and_their_actions_lead():
    directory = Directory()
    _filed(directory)
    learn(directory, S.SpecialActionLaunched(action_id="A1", lead_bureau="cnipa"))
    learn(directory, S.CaseEnrolled(action_id="A1", case_id=CASE))
    overdue = S.CaseOverdue(case_id=CASE, handling_bureau="ipb-sz", action_ids=["A1"])
    assert _heard(directory, overdue) == {"ipb-sz": "handling-bureau", "cnipa": "escalation"}


def test_discipline_reaches_every_implementing_department_and_overdue_feedback_escalates():
    directory = Directory()
    listed = C.SeriousDishonestyListed(
        listing_id="L-X-1",
        entity={"uscc": uscc(5)},
        initiating_department="cnipa",
        measures=[
            C.Measure(code="CNIPA-01", implementing_department="cnipa"),
            C.Measure(code="NDRC-01", implementing_department="ndrc"),
            C.Measure(code="MOF-01", implementing_department="mof"),
        ],
    )
    assert set(_heard(directory, listed)) == {"cnipa", "ndrc", "mof"}
    removed = C.ListingRemoved(listing_id="L-X-1", entity={"uscc": uscc(5)})
    assert set(_heard(directory, removed)) == {"cnipa", "ndrc", "mof"}
    lifted = C.MeasureLifted(
        listing_id="L-X-1", measure=C.Measure(code="MOF-01", implementing_department="mof")
    )
    assert _heard(directory, lifted) == {
        "mof": "implementing-department",
        "cnipa": "implementing-department",
    }
    late = C.FeedbackOverdue(listing_id="L-X-1", department="ndrc")
    assert _heard(directory, late) == {"ndrc": "escalation", "cnipa": "escalation"}


def test_subscriptions_add_recipients_by_every_filter_they_give():
    directory = Directory()
    _filed(directory)
    learn(directory, S.SpecialActionLaunched(action_id="A1", lead_bureau="cnipa"))
    learn(directory, S.CaseEnrolled(action_id="A1", case_id=CASE))
    by_type = N.Subscription(
        subscription_id="s1", recipient="customs-sz", filter={"event_types": ["CaseDecided"]}
    )
    by_action = N.Subscription(
        subscription_id="s2", recipient="police-sz", filter={"action_ids": ["A1"]}
    )
    by_entity = N.Subscription(
        subscription_id="s3", recipient="amr-gd", filter={"entities": [uscc(9)]}
    )
    both = N.Subscription(
        subscription_id="s4",
        recipient="ipb-gd",
        filter={"event_types": ["CaseClosed"], "case_ids": [CASE]},
    )
    subscriptions = [by_type, by_action, by_entity, both]
    decided = S.CaseDecided(
        case_id=CASE, decision=S.Decision(infringement_established=True, respondent_uscc=uscc(9))
    )
    heard = _heard(directory, decided, subscriptions)
    assert heard["customs-sz"] == "s1" and heard["police-sz"] == "s2" and heard["amr-gd"] == "s3"
    assert "ipb-gd" not in heard  # one of its filters (the type) does not match
    # A default recipient is told once, for its default reason.
    own = N.Subscription(subscription_id="s5", recipient="ipb-sz", filter={})
    assert _heard(directory, S.CaseAccepted(case_id=CASE), [own])["ipb-sz"] == "handling-bureau"


def test_learning_twice_changes_nothing_and_values_stay_bounded():
    directory = Directory()
    _filed(directory)
    for _ in range(2):
        learn(directory, S.CaseEnrolled(action_id="A1", case_id=CASE))
        learn(directory, S.SpecialActionJoined(action_id="A1", bureau="amr-sz"))
    assert directory.cases[CASE].action_ids == ["A1"]
    assert directory.actions["A1"].participants == ["amr-sz"]
    for n in range(300):
        learn(directory, S.CaseEnrolled(action_id=f"A{n}", case_id=CASE))
    assert len(directory.cases[CASE].action_ids) == 50
    # A case it never saw filed has nobody to tell by default (nothing is guessed).
    assert routes(directory, S.CaseAccepted(case_id="unknown")) == []
