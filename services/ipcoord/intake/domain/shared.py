"""What every sub-domain of intake's rules uses: the command, the configuration (Rules), what
evolve needs of a fact's envelope (Meta), a case's history and its standing."""

from __future__ import annotations

import bisect
from collections.abc import Set
from dataclasses import dataclass, field
from datetime import datetime

from google.protobuf.message import Message

from ipcoord.intake.state import Case, HistoryEntry
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.calendar import WorkingCalendar
from ipcoord.platform.errors import InvalidInput, Violation


@dataclass(frozen=True)
class Rules:
    """Configuration the rules depend on."""

    bureaus: BureauRegistry
    uscc_allow: Set[str] = frozenset()
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    # Fast-track deadlines in working days from filing.
    accept_within_days: int = 2
    decide_within_days: int = 20


@dataclass(frozen=True)
class Command:
    body: Message
    actor: str  # bureau that sent it (envelope.producer_bureau / gRPC caller)
    event_id: str  # of the command envelope: causation of what it produces
    at: datetime


@dataclass(frozen=True)
class Meta:
    """What evolve needs of the envelope around an event."""

    event_id: str
    at: datetime
    bureau: str


@dataclass(frozen=True)
class Standing:
    """What the indexes and the progress counts know of a case."""

    handling_bureau: str
    status: int
    action_ids: tuple[str, ...]


def standing(case: Case) -> Standing:
    return Standing(case.handling_bureau, case.status, tuple(case.action_ids))


def history(case: Case, event: Message, meta: Meta, summary: str) -> None:
    if any(h.event_id == meta.event_id for h in case.history):
        return
    entry = HistoryEntry(meta.event_id, event.DESCRIPTOR.full_name, meta.at, meta.bureau, summary)
    # In time order (UUIDv7 ids break ties): a replay of the partitioned log, which reads a
    # CasesLinked from the other case's partition, still yields the same history.
    bisect.insort(case.history, entry, key=lambda h: (h.at, h.event_id))


def require(value: str, name: str) -> None:
    if not value.strip():
        raise InvalidInput([Violation(name, "is required")])
