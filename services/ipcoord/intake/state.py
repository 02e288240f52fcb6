"""What intake knows: a fold of its own events (and the listings it relays from credit).

Every container is a MutableMapping: plain dicts in unit tests and replays, Faust tables in the
service. Values are read, changed and written back, so table changelogs see every change."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime

from ipcoord.v1 import intake_pb2

OPEN_STATUSES = frozenset(
    {
        intake_pb2.CASE_STATUS_FILED,
        intake_pb2.CASE_STATUS_ACCEPTED,
        intake_pb2.CASE_STATUS_ASSIGNED,
        intake_pb2.CASE_STATUS_UNDER_INVESTIGATION,
    }
)
# "Open" for source tracing: a decided case is still the place a repeat report belongs.
LINKABLE_STATUSES = OPEN_STATUSES | {intake_pb2.CASE_STATUS_DECIDED}
LINKED_REPORTS_KEPT = 100


@dataclass
class HistoryEntry:
    event_id: str
    event_type: str
    at: datetime
    bureau: str
    summary: str


@dataclass
class Link:
    case_id: str
    basis: int
    match_key: str


@dataclass
class Case:
    case_id: str
    status: int
    submitting_bureau: str
    handling_bureau: str
    report: intake_pb2.ReportSubmitted
    filed_at: datetime
    match_keys: list[str]
    action_ids: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    # The latest LINKED_REPORTS_KEPT linked reports and how many in all: a repeat respondent
    # can collect thousands of monitoring hits, and a case must stay one small record.
    linked_reports: list[str] = field(default_factory=list)
    linked_report_count: int = 0
    history: list[HistoryEntry] = field(default_factory=list)
    decision: intake_pb2.Decision | None = None
    assignee: str = ""
    evidence: list = field(default_factory=list)
    fast_track_center: str = ""
    deadlines: dict[str, datetime] = field(default_factory=dict)
    overdue: list[str] = field(default_factory=list)


@dataclass
class Action:
    action_id: str
    lead_bureau: str
    title: str
    invited: list[str]
    starts_at: datetime
    ends_at: datetime
    criteria: intake_pb2.ActionCriteria
    members: list[str] = field(default_factory=list)
    concluded: bool = False
    summary: str = ""


@dataclass
class IntakeState:
    cases: MutableMapping[str, Case] = field(default_factory=dict)
    # "<bureau>/<external ref>" -> case id: idempotency of submissions.
    submissions: MutableMapping[str, str] = field(default_factory=dict)
    # match key -> case ids (sorted, so replays in any order agree): source tracing.
    match_index: MutableMapping[str, list[str]] = field(default_factory=dict)
    # online key -> every USCC it was identified as (sorted: a set, so replays converge).
    identities: MutableMapping[str, list[str]] = field(default_factory=dict)
    # action id -> case ids enrolled (kept apart from Action so enrolment commutes with launch).
    actions: MutableMapping[str, Action] = field(default_factory=dict)
    action_cases: MutableMapping[str, list[str]] = field(default_factory=dict)
    # center -> {USCC: name}
    targets: MutableMapping[str, dict[str, str]] = field(default_factory=dict)
    # case id -> its fast-track deadlines neither met nor escalated yet (what the clock checks)
    watched: MutableMapping[str, dict[str, datetime]] = field(default_factory=dict)
    # USCC -> active serious-dishonesty listing ids
    listed: MutableMapping[str, list[str]] = field(default_factory=dict)

    def cases_with_key(self, key: str) -> list[str]:
        return list(self.match_index.get(key, []))

    def with_identities(self, keys: list[str]) -> list[str]:
        """``keys`` plus the USCC keys their online identifiers were identified as: an
        identified seller and its USCC are one respondent. USCC keys come first."""
        identified = [f"uscc:{uscc}" for key in keys for uscc in self.identities.get(key, ())]
        return list(dict.fromkeys([*identified, *keys]))
