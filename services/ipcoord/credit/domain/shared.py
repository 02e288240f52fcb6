"""What every rule of credit records shares: the command with its sender, the rules, times."""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message

from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.calendar import WorkingCalendar
from ipcoord.v1 import credit_pb2


@dataclass(frozen=True)
class Command:
    body: Message
    # The bureau or department that gave it: proven by certificate over gRPC; for relayed
    # decisions, the bureau that decided; for the clock, the service itself.
    actor: str
    event_id: str
    at: datetime


@dataclass(frozen=True)
class Meta:
    """What evolve needs of the envelope around an event."""

    event_id: str
    at: datetime


@dataclass(frozen=True)
class ListingRule:
    """At least ``at_least`` records of behaviour ``counts`` within ``within_years`` (or ever)
    list the entity, for behaviour ``lists_as``, initiated by ``initiating_department``."""

    name: str
    counts: int
    lists_as: int
    at_least: int
    within_years: int | None
    initiating_department: str
    measure_codes: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    bureaus: BureauRegistry
    calendar: WorkingCalendar
    listing_rules: tuple[ListingRule, ...]
    measures: dict[str, credit_pb2.Measure]
    recording_bureaus: frozenset[str]
    # Legitimate USCCs that fail the check character (early pilot regions).
    uscc_allow: frozenset[str] = frozenset()
    # The actor of the service's own clock ticks (declared on Kafka, like every actor there:
    # the command topic is the service's alone, see docs/credit.md).
    clock_actor: str = "ipcoord-credit"
    listing_term_years: int = 3
    repair_after_years: int = 1
    feedback_days: int = 10
    objection_decision_days: int = 15
    repair_feedback_days: int = 10
    repair_decision_days: int = 3

    def departments_of(self, measure_codes: tuple[str, ...]) -> list[str]:
        """The implementing departments of the measures, in catalogue order, each once."""
        return list(
            dict.fromkeys(
                self.measures[code].implementing_department
                for code in self.measures
                if code in measure_codes
            )
        )


def years_after(at: datetime, years: int) -> datetime:
    """The same moment ``years`` later (29 February becomes 28 February in a common year)."""
    year = at.year + years
    day = min(at.day, _calendar.monthrange(year, at.month)[1])
    return at.replace(year=year, day=day)
