"""How a listing ends: an upheld objection, a granted credit repair, or its term running out;
and the clock that watches every deadline of a listing.

Objection: received by any bureau on the entity's behalf, decided by the initiating department
within its deadline; upheld removes the listing. Repair: possible once the listing is
``repair_after_years`` old; the initiating department answers the applicant
(``repair_feedback``), then decides (``repair_decision``); granted removes the listing. Expiry:
the clock removes a listing whose term has run out. Every removal lifts every measure, and
feedback is owed again (discipline.lifting). A missed deadline is reported once; the answer
still counts when it comes."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.message import Message

from ipcoord.credit.domain.discipline import lifting, listing_evolver, listing_of, overdue
from ipcoord.credit.domain.shared import Command, Meta, Rules, years_after
from ipcoord.credit.keys import partition_of
from ipcoord.credit.state import REMOVED_LISTINGS_KEPT, CreditFile, CreditState, Listing
from ipcoord.platform.errors import IllegalTransition, InvalidInput, NotPermitted, Violation
from ipcoord.platform.table_codec import time_of, timestamp
from ipcoord.v1 import credit_pb2 as C

_TEXT_MAX = 4_000


def _active(state: CreditState, listing_id: str) -> tuple[CreditFile, Listing]:
    file, listing = listing_of(state, listing_id)
    if not listing.active:
        raise IllegalTransition(
            f"listing {listing_id} was removed on {listing.removed_at:%Y-%m-%d}"
        )
    return file, listing


def _text(value: str, field: str) -> None:
    if not value.strip():
        raise InvalidInput([Violation(field, "required")])
    if len(value) > _TEXT_MAX:
        raise InvalidInput([Violation(field, f"at most {_TEXT_MAX} characters")])


def _by_initiator(cmd: Command, listing: Listing) -> None:
    if cmd.actor != listing.initiating_department:
        raise NotPermitted(
            f"only the initiating department {listing.initiating_department} decides on "
            f"listing {listing.listing_id}"
        )


def removal(
    file: CreditFile, listing: Listing, reason: int, detail: str, rules: Rules, at: datetime
) -> list[Message]:
    removed = C.ListingRemoved(
        listing_id=listing.listing_id,
        entity={"uscc": file.uscc, "name": file.name},
        reason=reason,
        detail=detail,
        removed_at=timestamp(at),
    )
    return [removed, *lifting(listing, rules, at)]


# ------------------------------------------------------------------------------ decide


def _object(cmd: Command, state: CreditState, rules: Rules) -> list[Message]:
    body: C.ObjectToListing = cmd.body
    _text(body.grounds, "grounds")
    _, listing = _active(state, body.listing_id)
    if listing.objection_pending:
        raise IllegalTransition(f"an objection to {listing.listing_id} awaits its decision")
    due = rules.calendar.add_working_days(cmd.at, rules.objection_decision_days)
    return [
        C.ListingObjected(
            listing_id=listing.listing_id,
            grounds=body.grounds,
            received_by=cmd.actor,
            decision_due_at=timestamp(due),
        )
    ]


def _decide_objection(cmd: Command, state: CreditState, rules: Rules) -> list[Message]:
    body: C.DecideObjection = cmd.body
    _text(body.reason, "reason")
    file, listing = _active(state, body.listing_id)
    _by_initiator(cmd, listing)
    if not listing.objection_pending:
        raise IllegalTransition(f"no objection to {listing.listing_id} awaits a decision")
    decided = C.ObjectionDecided(
        listing_id=listing.listing_id,
        upheld=body.upheld,
        reason=body.reason,
        by_department=cmd.actor,
    )
    if not body.upheld:
        return [decided]
    reason = C.REMOVAL_REASON_OBJECTION_UPHELD
    return [decided, *removal(file, listing, reason, body.reason, rules, cmd.at)]


def _request_repair(cmd: Command, state: CreditState, rules: Rules) -> list[Message]:
    body: C.RequestCreditRepair = cmd.body
    _text(body.statement, "statement")
    _, listing = _active(state, body.listing_id)
    if listing.repair_pending:
        raise IllegalTransition(f"a repair request for {listing.listing_id} is under way")
    possible_from = years_after(listing.listed_at, rules.repair_after_years)
    if cmd.at < possible_from:
        raise IllegalTransition(
            f"credit repair of {listing.listing_id} is possible from {possible_from:%Y-%m-%d}"
        )
    due = rules.calendar.add_working_days(cmd.at, rules.repair_feedback_days)
    return [
        C.CreditRepairRequested(
            listing_id=listing.listing_id,
            statement=body.statement,
            received_by=cmd.actor,
            feedback_due_at=timestamp(due),
        )
    ]


def _acknowledge_repair(cmd: Command, state: CreditState, rules: Rules) -> list[Message]:
    body: C.AcknowledgeRepairRequest = cmd.body
    _, listing = _active(state, body.listing_id)
    _by_initiator(cmd, listing)
    if "repair_feedback" not in listing.deadlines:
        raise IllegalTransition(f"no repair request for {listing.listing_id} awaits an answer")
    due = rules.calendar.add_working_days(cmd.at, rules.repair_decision_days)
    return [
        C.CreditRepairAcknowledged(
            listing_id=listing.listing_id, by_department=cmd.actor, decision_due_at=timestamp(due)
        )
    ]


def _decide_repair(cmd: Command, state: CreditState, rules: Rules) -> list[Message]:
    body: C.DecideCreditRepair = cmd.body
    _text(body.reason, "reason")
    file, listing = _active(state, body.listing_id)
    _by_initiator(cmd, listing)
    if not listing.repair_pending:
        raise IllegalTransition(f"no repair request for {listing.listing_id} awaits a decision")
    decided = C.CreditRepairDecided(
        listing_id=listing.listing_id,
        granted=body.granted,
        reason=body.reason,
        by_department=cmd.actor,
    )
    if not body.granted:
        return [decided]
    reason = C.REMOVAL_REASON_CREDIT_REPAIRED
    return [decided, *removal(file, listing, reason, body.reason, rules, cmd.at)]


def _check_deadlines(cmd: Command, state: CreditState, rules: Rules) -> list[Message]:
    """Everything of the tick's partition's files that has fallen due (``watched`` names them;
    it holds every partition this replica owns, and a file must only be written in the event
    of its own partition)."""
    body: C.CheckCreditDeadlines = cmd.body
    if cmd.actor != rules.clock_actor:
        raise NotPermitted(f"only the service's own clock ticks, not {cmd.actor}")
    now = time_of(body.now) if body.HasField("now") else cmd.at
    events: list[Message] = []
    for uscc, due in sorted(state.watched.items()):
        if due > now:
            continue
        if body.partition_count and partition_of(uscc, body.partition_count) != body.partition:
            continue
        file = state.files.get(uscc)
        for listing in file.listings.values() if file else ():
            events += _fallen_due(file, listing, now, rules)
    return events


def _fallen_due(file: CreditFile, listing: Listing, now: datetime, rules: Rules) -> list[Message]:
    if listing.active and listing.expires_at <= now:
        reason = C.REMOVAL_REASON_EXPIRED
        detail = f"term ended {listing.expires_at:%Y-%m-%d}"
        return removal(file, listing, reason, detail, rules, listing.expires_at)
    missed = [
        C.CreditDeadlineMissed(
            listing_id=listing.listing_id,
            deadline=name,
            department=listing.initiating_department,
            due_at=timestamp(due),
        )
        for name, due in sorted(listing.deadlines.items())
        if due <= now and listing.deadlines_missed.get(name) != due
    ]
    return [*missed, *overdue(listing, now)]


def next_due(file: CreditFile) -> datetime | None:
    """The earliest time something of ``file`` falls due that the clock has not reported."""
    times = []
    for listing in file.listings.values():
        if listing.active:
            times.append(listing.expires_at)
        times += [
            due
            for name, due in listing.deadlines.items()
            if listing.deadlines_missed.get(name) != due
        ]
        times += [
            due
            for department, due in listing.feedback_due.items()
            if listing.overdue_reported.get(department) != due
        ]
    return min(times, default=None)


DECIDERS = {
    C.ObjectToListing: _object,
    C.DecideObjection: _decide_objection,
    C.RequestCreditRepair: _request_repair,
    C.AcknowledgeRepairRequest: _acknowledge_repair,
    C.DecideCreditRepair: _decide_repair,
    C.CheckCreditDeadlines: _check_deadlines,
}

# ------------------------------------------------------------------------------ evolve


def _on_objected(file, listing: Listing, e: C.ListingObjected, meta: Meta) -> None:
    listing.objection_grounds = e.grounds
    listing.deadlines["objection_decision"] = time_of(e.decision_due_at)


def _on_objection_decided(file, listing: Listing, e: C.ObjectionDecided, meta: Meta) -> None:
    _met(listing, "objection_decision")


def _on_repair_requested(file, listing: Listing, e: C.CreditRepairRequested, meta: Meta) -> None:
    listing.repair_statement = e.statement
    listing.deadlines["repair_feedback"] = time_of(e.feedback_due_at)


def _on_repair_acknowledged(
    file, listing: Listing, e: C.CreditRepairAcknowledged, meta: Meta
) -> None:
    _met(listing, "repair_feedback")
    listing.deadlines["repair_decision"] = time_of(e.decision_due_at)


def _on_repair_decided(file, listing: Listing, e: C.CreditRepairDecided, meta: Meta) -> None:
    _met(listing, "repair_feedback")
    _met(listing, "repair_decision")


def _on_missed(file, listing: Listing, e: C.CreditDeadlineMissed, meta: Meta) -> None:
    listing.deadlines_missed[e.deadline] = time_of(e.due_at)


def _on_removed(file: CreditFile, listing: Listing, e: C.ListingRemoved, meta: Meta) -> bool:
    if not listing.active:
        return False
    listing.removed_at = time_of(e.removed_at) if e.HasField("removed_at") else meta.at
    listing.removal_reason = e.reason
    listing.removal_detail = e.detail
    listing.deadlines.clear()
    listing.deadlines_missed.clear()
    listing.feedback_due.clear()  # the lifting facts that follow set what is owed now
    listing.overdue_reported.clear()
    _forget_old_removed(file)
    return True


def _forget_old_removed(file: CreditFile) -> None:
    removed = sorted(
        (listing for listing in file.listings.values() if not listing.active),
        key=lambda listing: (listing.removed_at, listing.listing_id),
    )
    for listing in removed[:-REMOVED_LISTINGS_KEPT]:
        del file.listings[listing.listing_id]


def _met(listing: Listing, deadline: str) -> None:
    listing.deadlines.pop(deadline, None)
    listing.deadlines_missed.pop(deadline, None)


EVOLVERS = {
    C.ListingObjected: listing_evolver(_on_objected),
    C.ObjectionDecided: listing_evolver(_on_objection_decided),
    C.CreditRepairRequested: listing_evolver(_on_repair_requested),
    C.CreditRepairAcknowledged: listing_evolver(_on_repair_acknowledged),
    C.CreditRepairDecided: listing_evolver(_on_repair_decided),
    C.CreditDeadlineMissed: listing_evolver(_on_missed),
    C.ListingRemoved: listing_evolver(_on_removed),
}
