"""What credit records knows: one credit file per entity (USCC), a fold of ipcoord.credit.v1.

Everything about an entity is one value, decided by the single writer of its USCC's partition,
and bounded: the newest RECORDS_KEPT records (a count of all), active listings, and the newest
REMOVED_LISTINGS_KEPT removed ones (listings carry at most the measure catalogue, feedback per
department and measure, and the related persons named)."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime

from ipcoord.platform.caseset import CaseSetNode
from ipcoord.v1 import credit_pb2

RECORDS_KEPT = 200
REMOVED_LISTINGS_KEPT = 20
RELATED_PERSONS_KEPT = 32
# Decisions held for one online key until its entity is known; one more is refused.
HELD_DECISIONS_KEPT = 100


@dataclass
class Record:
    record_id: str
    behaviour: int
    source_case_id: str
    recorded_by: str
    occurred_at: datetime


@dataclass
class Feedback:
    outcome: int
    reason: str
    path: int
    at: datetime


@dataclass
class Listing:
    listing_id: str
    rule: str
    behaviours: list[int]
    record_ids: list[str]
    initiating_department: str
    listed_at: datetime
    expires_at: datetime
    measures: list[credit_pb2.Measure]
    related_persons: list[credit_pb2.RelatedPerson] = field(default_factory=list)
    # "<department>/<measure code>" -> the latest feedback on it.
    feedback: dict[str, Feedback] = field(default_factory=dict)
    # department -> when its (next) feedback is due; gone once it has reported on every measure.
    feedback_due: dict[str, datetime] = field(default_factory=dict)
    # Departments told they are late, for the due date they missed (one FeedbackOverdue each).
    overdue_reported: dict[str, datetime] = field(default_factory=dict)
    # Watched deadlines of objection and repair: name -> due time; gone when met.
    deadlines: dict[str, datetime] = field(default_factory=dict)
    # Those already reported missed (one CreditDeadlineMissed each); a late answer still counts.
    deadlines_missed: dict[str, datetime] = field(default_factory=dict)
    objection_grounds: str = ""
    repair_statement: str = ""
    removed_at: datetime | None = None
    removal_reason: int = 0
    removal_detail: str = ""

    @property
    def active(self) -> bool:
        return self.removed_at is None

    @property
    def objection_pending(self) -> bool:
        return "objection_decision" in self.deadlines

    @property
    def repair_pending(self) -> bool:
        return "repair_feedback" in self.deadlines or "repair_decision" in self.deadlines


@dataclass
class CreditFile:
    uscc: str
    name: str = ""
    records: list[Record] = field(default_factory=list)  # oldest first
    record_count: int = 0
    listings: dict[str, Listing] = field(default_factory=dict)
    listings_made: int = 0  # numbers listing ids; never reused
    # Related persons recorded with the entity's behaviours (keyed hashes, never id numbers),
    # named in its next listings; the newest RELATED_PERSONS_KEPT.
    related_persons: list[credit_pb2.RelatedPerson] = field(default_factory=list)

    def active_listings(self) -> list[Listing]:
        return [listing for listing in self.listings.values() if listing.active]

    def has_record_of(self, source_case_id: str, behaviour: int) -> bool:
        return any(
            r.source_case_id == source_case_id and r.behaviour == behaviour for r in self.records
        )


@dataclass
class OnlineRespondent:
    """A respondent known by an online key ("seller:<platform>:<id>", "shop:<host/path>"):
    the decisions against it held until intake identifies the entity behind it, then that
    entity (decisions arriving later count against it at once)."""

    online_key: str
    uscc: str = ""
    name: str = ""
    held: list[credit_pb2.NoteDecidedCase] = field(default_factory=list)


ALL_LISTINGS, ACTIVE_LISTINGS = "all", "active"  # the sets of listing_index

# Fields of CreditState that are functions of the files: in memory, rebuilt, never stored.
DERIVED_INDEXES = ("watched", "persons", "persons_of", "listing_index", "listings_of")


@dataclass
class CreditState:
    # USCC -> its credit file.
    files: MutableMapping[str, CreditFile] = field(default_factory=dict)
    # USCC -> the earliest time something of its file falls due (expiry, feedback, objection
    # or repair deadlines): what the clock checks, kept by evolve.
    watched: MutableMapping[str, datetime] = field(default_factory=dict)
    # "<hash key id>:<hex HMAC>" of a related person -> the USCCs whose active listings name
    # them (CheckDiscipline by person), and its reverse, to update it when a file changes.
    persons: MutableMapping[str, list[str]] = field(default_factory=dict)
    persons_of: MutableMapping[str, list[str]] = field(default_factory=dict)
    # Every listing kept, and the active ones, as ordered sets of listing ids
    # (platform/caseset.py, sets "all" and "active": ListListings pages through one), and per
    # USCC the listing ids indexed for it, to update them when a file changes.
    listing_index: MutableMapping[str, CaseSetNode] = field(default_factory=dict)
    listings_of: MutableMapping[str, list[str]] = field(default_factory=dict)
    # "online:<online key>" -> a respondent known only online (stored, like files; on the
    # partition of that key, where its commands go).
    respondents: MutableMapping[str, OnlineRespondent] = field(default_factory=dict)


def listing_id_for(uscc: str, number: int) -> str:
    """Listing ids carry the entity's USCC, so feedback keyed by listing id reaches the writer
    of that USCC without a lookup: ``L-<USCC>-<n>``."""
    return f"L-{uscc}-{number}"


def uscc_of_listing(listing_id: str) -> str | None:
    parts = listing_id.split("-")
    if len(parts) != 3 or parts[0] != "L" or len(parts[1]) != 18 or not parts[2].isdigit():
        return None
    return parts[1]


def online_subject(online_key: str) -> str:
    """The Kafka key and table key of an online key's commands and respondent."""
    return f"online:{online_key}"


def person_key(key_id: str, digest: bytes) -> str:
    return f"{key_id}:{digest.hex()}"


def listed_person_keys(file: CreditFile) -> list[str]:
    """The related persons named by the file's active listings, as ``persons`` keys."""
    return sorted(
        {
            person_key(p.hash_key_id, p.id_number_hmac)
            for listing in file.active_listings()
            for p in listing.related_persons
        }
    )
