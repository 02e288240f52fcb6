"""The credit rules file: the shipped one loads; every mistake stops start-up with the file's
path and the line."""

from __future__ import annotations

import pytest
from ipcoord.credit.rules_file import DEFAULT_RULES_FILE, load_rules
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.calendar import WorkingCalendar
from ipcoord.platform.config_file import ConfigFileError
from ipcoord.v1 import credit_pb2 as C

BUREAUS = BureauRegistry.demo()
GOOD = """\
recording_bureaus: [cnipa]
rules:
  - name: repeated-infringement
    counts: INFRINGEMENT
    lists_as: REPEATED_PATENT_INFRINGEMENT
    at_least: 2
    within_years: 5
    initiating_department: cnipa
measures:
  - code: CNIPA-01
    text: Stricter supervision
    implementing_department: cnipa
"""


def load(tmp_path, text: str):
    path = tmp_path / "credit-rules.yaml"
    path.write_text(text)
    return load_rules(path, BUREAUS, WorkingCalendar.parse()), path


def test_the_shipped_rules_cover_the_six_behaviours_of_the_memorandum():
    rules = load_rules(DEFAULT_RULES_FILE, BUREAUS, WorkingCalendar.parse())
    listed_as = {rule.lists_as for rule in rules.listing_rules}
    assert listed_as == {
        C.DISHONEST_BEHAVIOUR_REPEATED_PATENT_INFRINGEMENT,
        C.DISHONEST_BEHAVIOUR_REFUSAL_TO_COMPLY,
        C.DISHONEST_BEHAVIOUR_PATENT_AGENCY_VIOLATION,
        C.DISHONEST_BEHAVIOUR_LENDING_AGENT_CERTIFICATE,
        C.DISHONEST_BEHAVIOUR_ABNORMAL_PATENT_APPLICATION,
        C.DISHONEST_BEHAVIOUR_FALSE_DOCUMENTS,
    }
    assert rules.listing_term_years == 3 and rules.repair_after_years == 1
    assert (rules.feedback_days, rules.repair_feedback_days, rules.repair_decision_days) == (
        10,
        10,
        3,
    )


def test_a_small_file_loads_with_defaults(tmp_path):
    rules, _ = load(tmp_path, GOOD)
    [rule] = rules.listing_rules
    assert rule.at_least == 2 and rule.within_years == 5 and rule.measure_codes == ("CNIPA-01",)
    assert rules.listing_term_years == 3


@pytest.mark.parametrize(
    ("change", "line", "says"),
    [
        (
            ("counts: INFRINGEMENT", "counts: SPEEDING"),
            4,
            "rules[0].counts: Value error, 'SPEEDING'",
        ),
        (("initiating_department: cnipa", "initiating_department: nobody"), 8, "not a bureau"),
        (("at_least: 2", "at_least: 0"), 6, "rules[0].at_least"),
        (("code: CNIPA-01", "code: lower"), 10, "measures[0].code"),
        (("    text: Stricter supervision\n", ""), 10, "measures[0].text: Field required"),
        (("recording_bureaus: [cnipa]", "recording_bureaus: [cnipa]\nsurprise: 1"), 2, "surprise"),
        (("    within_years: 5", "    within_years: [5"), 8, "not valid YAML"),
    ],
)
def test_a_mistake_names_the_path_the_line_and_the_field(tmp_path, change, line, says):
    old, new = change
    assert old in GOOD
    with pytest.raises(ConfigFileError) as failed:
        load(tmp_path, GOOD.replace(old, new))
    message = str(failed.value)
    assert f"credit-rules.yaml:{line}:" in message, message
    assert says in message, message


def test_a_measure_listed_twice_or_unknown_to_a_rule_is_refused(tmp_path):
    twice = GOOD + "  - code: CNIPA-01\n    text: again\n    implementing_department: cnipa\n"
    with pytest.raises(ConfigFileError, match="listed twice"):
        load(tmp_path, twice)
    unknown = GOOD.replace("    within_years: 5\n", "    within_years: 5\n    measures: [NOPE]\n")
    with pytest.raises(ConfigFileError, match="unknown measures"):
        load(tmp_path, unknown)


def test_an_unreadable_file_names_its_path(tmp_path):
    with pytest.raises(ConfigFileError, match=r"missing\.yaml: cannot read"):
        load_rules(tmp_path / "missing.yaml", BUREAUS, WorkingCalendar.parse())
