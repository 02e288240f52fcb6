"""The credit rules file (IPCOORD_CREDIT_RULES): listing rules, the measure catalogue, terms and
deadlines, in one YAML file checked at start (platform/config_file.py gives path and line).

Names in the file are the contract's enum names without their prefix (``INFRINGEMENT`` for
``DISHONEST_BEHAVIOUR_INFRINGEMENT``); departments are bureau ids of the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ipcoord.credit.domain.shared import ListingRule, Rules
from ipcoord.platform import config_file
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.calendar import WorkingCalendar
from ipcoord.v1 import credit_pb2

_PREFIX = "DISHONEST_BEHAVIOUR_"
BEHAVIOURS = {
    name.removeprefix(_PREFIX): value
    for name, value in credit_pb2.DishonestBehaviour.items()
    if value != credit_pb2.DISHONEST_BEHAVIOUR_UNSPECIFIED
}
# The shipped rules (the 2018 memorandum's behaviours, CNIPA's five measures and a few of the
# other departments'), what `ipcoord serve credit` reads unless told otherwise.
DEFAULT_RULES_FILE = Path(__file__).with_name("rules.yaml")

Code = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]{0,15}$")]
Behaviour = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_department(value: str, info: ValidationInfo) -> str:
    registry: BureauRegistry | None = (info.context or {}).get("bureaus")
    if registry is not None and value not in registry:
        raise ValueError(f"{value!r} is not a bureau of the registry (IPCOORD_BUREAUS)")
    return value


def _behaviour(value: str) -> str:
    if value not in BEHAVIOURS:
        raise ValueError(f"{value!r} is not a behaviour; one of {', '.join(BEHAVIOURS)}")
    return value


class MeasureEntry(_Strict):
    code: Code
    text: str = Field(min_length=1, max_length=500)
    implementing_department: str

    _department = field_validator("implementing_department")(_known_department)


class RuleEntry(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")
    # The records that count, and what the listing names as its behaviour (default: the same).
    counts: Behaviour
    lists_as: Behaviour | None = None
    at_least: int = Field(ge=1, le=100)
    # Only records this recent count; none: every record kept.
    within_years: int | None = Field(default=None, ge=1, le=20)
    initiating_department: str
    # The measures a listing under this rule applies (codes of the catalogue); none: all.
    measures: list[Code] | None = None

    _behaviours = field_validator("counts", "lists_as")(
        lambda value: value if value is None else _behaviour(value)
    )
    _department = field_validator("initiating_department")(_known_department)


class CreditRulesFile(_Strict):
    listing_term_years: int = Field(default=3, ge=1, le=10)
    repair_after_years: int = Field(default=1, ge=0, le=10)
    feedback_within_working_days: int = Field(default=10, ge=1, le=60)
    objection_decision_within_working_days: int = Field(default=15, ge=1, le=60)
    repair_feedback_within_working_days: int = Field(default=10, ge=1, le=60)
    repair_decision_within_working_days: int = Field(default=3, ge=1, le=60)
    # Who may record behaviours directly (besides the decisions intake publishes).
    recording_bureaus: list[str] = Field(min_length=1)
    rules: list[RuleEntry] = Field(min_length=1)
    measures: list[MeasureEntry] = Field(min_length=1)

    _departments = field_validator("recording_bureaus")(
        lambda values, info: [_known_department(v, info) for v in values]
    )

    @model_validator(mode="after")
    def _names_are_unique_and_known(self) -> CreditRulesFile:
        codes = [m.code for m in self.measures]
        if len(set(codes)) != len(codes):
            raise ValueError(f"measures: a code is listed twice: {sorted(_twice(codes))}")
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rules: a name is used twice: {sorted(_twice(names))}")
        for rule in self.rules:
            unknown = sorted(set(rule.measures or ()) - set(codes))
            if unknown:
                raise ValueError(f"rules: {rule.name} names unknown measures {unknown}")
        return self

    def to_rules(self, bureaus: BureauRegistry, calendar: WorkingCalendar) -> Rules:
        measures = {
            m.code: credit_pb2.Measure(
                code=m.code, text=m.text, implementing_department=m.implementing_department
            )
            for m in self.measures
        }
        return Rules(
            bureaus=bureaus,
            calendar=calendar,
            listing_rules=tuple(
                ListingRule(
                    name=r.name,
                    counts=BEHAVIOURS[r.counts],
                    lists_as=BEHAVIOURS[r.lists_as or r.counts],
                    at_least=r.at_least,
                    within_years=r.within_years,
                    initiating_department=r.initiating_department,
                    measure_codes=tuple(r.measures or measures),
                )
                for r in self.rules
            ),
            measures=measures,
            recording_bureaus=frozenset(self.recording_bureaus),
            listing_term_years=self.listing_term_years,
            repair_after_years=self.repair_after_years,
            feedback_days=self.feedback_within_working_days,
            objection_decision_days=self.objection_decision_within_working_days,
            repair_feedback_days=self.repair_feedback_within_working_days,
            repair_decision_days=self.repair_decision_within_working_days,
        )


def _twice(values: list[str]) -> set[str]:
    return {v for v in values if values.count(v) > 1}


def load_rules(path: Path, bureaus: BureauRegistry, calendar: WorkingCalendar) -> Rules:
    """The rules in ``path``; ConfigFileError naming the path and line of every problem."""
    parsed = config_file.load(path, CreditRulesFile, context={"bureaus": bureaus})
    return parsed.to_rules(bureaus, calendar)
