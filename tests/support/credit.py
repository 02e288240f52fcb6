"""Building credit state in tests: the shipped rules with the demo bureaus, commands decided
and applied as the processor does, and a few scenario steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ipcoord.credit.domain import Command, Meta, decide, evolve
from ipcoord.credit.rules_file import DEFAULT_RULES_FILE, load_rules
from ipcoord.credit.state import CreditState
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.calendar import WorkingCalendar
from ipcoord.platform.personal_ids import PersonHasher
from ipcoord.platform.table_codec import timestamp
from ipcoord.v1 import credit_pb2 as C

RULES = load_rules(DEFAULT_RULES_FILE, BureauRegistry.demo(), WorkingCalendar.parse())
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
DEPARTMENTS = ["cnipa", "ndrc", "mof", "amr-sz"]
HASHER = PersonHasher({"k1": b"k" * 32}, "k1")
_n = 0


def run(state: CreditState, body, actor="cnipa", at=T0) -> list:
    """Decide and apply, as the processor does."""
    global _n
    _n += 1
    events = decide(Command(body, actor, f"cmd-{_n}", at), state, RULES)
    for i, event in enumerate(events):
        evolve(state, event, Meta(f"evt-{_n}-{i}", at))
    return events


def decided(case: str, entity: str, at=T0, *, established=True, refused=False):
    return C.NoteDecidedCase(
        case_id=case,
        respondent={"uscc": entity, "name": "Copycat Ltd."},
        by_bureau="ipb-sz",
        decided_at=timestamp(at),
        infringement_established=established,
        refused_to_comply=refused,
    )


def names(events) -> list[str]:
    return [type(e).__name__ for e in events]


def listed(state: CreditState, entity: str, at=T0) -> str:
    """Two established infringements: the entity listed for repeated infringement."""
    run(state, decided(f"case-a-{entity}", entity, at - timedelta(days=200)), at=at)
    events = run(state, decided(f"case-b-{entity}", entity, at), at=at)
    [listing] = [e for e in events if isinstance(e, C.SeriousDishonestyListed)]
    return listing.listing_id


def feedback(listing_id, department, code, outcome=C.MEASURE_OUTCOME_APPLIED, reason=""):
    return C.DisciplineFeedbackSubmitted(
        listing_id=listing_id,
        department=department,
        measure_code=code,
        outcome=outcome,
        reason=reason,
        path=C.FEEDBACK_PATH_GRPC,
    )


def tick(state: CreditState, at: datetime) -> list:
    return run(state, C.CheckCreditDeadlines(now=timestamp(at)), actor="ipcoord-credit", at=at)
