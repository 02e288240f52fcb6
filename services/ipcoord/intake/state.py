"""What intake knows: a fold of its own events (and the listings it relays from credit).

Every container is a MutableMapping: plain dicts in unit tests and replays; in the service,
Faust tables for what must survive, and in-memory dicts for the DERIVED_INDEXES, which are
rebuilt from the cases (domain/indexes.py). Values are read, changed and written back through
the stage (platform/staged.py), so table changelogs see every change."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime

from ipcoord.platform import caseset
from ipcoord.platform.caseset import CaseSetNode
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
# A case is traced through its own report's keys and, up to this many in all, the new keys of
# reports linked into it: a case linked with thousands of sellers stays one small record.
MATCH_KEYS_KEPT = 64
# The most special actions one case can be enrolled in (its action_ids stay small).
ACTIONS_PER_CASE = 16


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
class Submission:
    """What a used reference holds: the case it filed or was linked into, and the digest of the
    report (deterministic protobuf bytes), so a retry is told from new content."""

    case_id: str
    digest: str


# The fields of IntakeState that are functions of the cases (and identities): kept in memory by
# the service and rebuilt from the cases table, never stored (domain/indexes.py).
DERIVED_INDEXES = ("match_index", "action_cases", "bureau_cases", "action_counts")


@dataclass
class IntakeState:
    """No value grows with the number of cases or reports: one Kafka record each (issue 6)."""

    cases: MutableMapping[str, Case] = field(default_factory=dict)
    # "<bureau>/<external ref>" -> Submission: the reference is an idempotency key.
    submissions: MutableMapping[str, Submission] = field(default_factory=dict)
    # Source tracing, a case set (caseset.py) per match key: the cases under it, ranked by
    # filing time while linkable, so its root names the earliest linkable case in one read.
    match_index: MutableMapping[str, CaseSetNode] = field(default_factory=dict)
    # online key -> every USCC it was identified as (sorted: a set, so replays converge).
    identities: MutableMapping[str, list[str]] = field(default_factory=dict)
    actions: MutableMapping[str, Action] = field(default_factory=dict)
    # A case set per action: the cases enrolled (kept apart from Action so enrolment commutes
    # with launch).
    action_cases: MutableMapping[str, CaseSetNode] = field(default_factory=dict)
    # A case set per bureau: the cases it handles or submitted (ListCases by bureau pages
    # through it). A transfer moves a case between handlers' sets; its submitter keeps it.
    bureau_cases: MutableMapping[str, CaseSetNode] = field(default_factory=dict)
    # action id -> handling bureau -> CaseStatus -> enrolled cases: progress, kept by evolve.
    action_counts: MutableMapping[str, dict[str, dict[int, int]]] = field(default_factory=dict)
    # center -> {USCC: name}
    targets: MutableMapping[str, dict[str, str]] = field(default_factory=dict)
    # case id -> its fast-track deadlines neither met nor escalated yet (what the clock checks)
    watched: MutableMapping[str, dict[str, datetime]] = field(default_factory=dict)
    # USCC -> active serious-dishonesty listing ids
    listed: MutableMapping[str, list[str]] = field(default_factory=dict)

    def cases_with_key(self, key: str, *, after: str = "") -> Iterator[str]:
        """Every case under a match key, ascending, from ``after`` on (a read: it walks the
        key's nodes, as many as the cases listed need)."""
        return caseset.ids(self.match_index, key, after=after)

    def first_linkable(self, key: str) -> str:
        """The earliest filed linkable case under a match key, "" if none: one read."""
        return caseset.first(self.match_index, key)

    def cases_of_action(self, action_id: str, *, after: str = "") -> Iterator[str]:
        """The cases enrolled in an action, ascending, from ``after`` on."""
        return caseset.ids(self.action_cases, action_id, after=after)

    def cases_of_bureau(self, bureau: str, *, after: str = "") -> Iterator[str]:
        """The cases a bureau handles or submitted, ascending, from ``after`` on."""
        return caseset.ids(self.bureau_cases, bureau, after=after)

    def with_identities(self, keys: list[str]) -> list[str]:
        """``keys`` plus the USCC keys their online identifiers were identified as: an
        identified seller and its USCC are one respondent. USCC keys come first."""
        identified = [f"uscc:{uscc}" for key in keys for uscc in self.identities.get(key, ())]
        return list(dict.fromkeys([*identified, *keys]))
