"""Initiate -> respond -> feedback: each implementing department reports, per measure of a
listing, what it did, by a deadline; a removal lifts every measure and feedback is owed again.

While a listing is active a department reports APPLIED, NOT_APPLICABLE or REJECTED (with a
reason) for each of its measures; once removed, LIFTED (or NOT_APPLICABLE). A department whose
feedback is due when the clock passes the deadline gets one FeedbackOverdue per deadline. Every
feedback fact records the path it came by: over gRPC the department is the caller's certificate;
on Kafka it is what the record declares."""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import Message

from ipcoord.credit.domain.shared import Command, Meta, Rules
from ipcoord.credit.state import CreditFile, CreditState, Feedback, Listing, uscc_of_listing
from ipcoord.platform.errors import (
    IllegalTransition,
    InvalidInput,
    NotFound,
    NotPermitted,
    Violation,
)
from ipcoord.platform.table_codec import time_of, timestamp
from ipcoord.v1 import credit_pb2 as C

_WHILE_LISTED = frozenset(
    {C.MEASURE_OUTCOME_APPLIED, C.MEASURE_OUTCOME_NOT_APPLICABLE, C.MEASURE_OUTCOME_REJECTED}
)
_AFTER_REMOVAL = frozenset({C.MEASURE_OUTCOME_LIFTED, C.MEASURE_OUTCOME_NOT_APPLICABLE})
_REASON_MAX = 2_000


def listing_of(state: CreditState, listing_id: str) -> tuple[CreditFile, Listing]:
    uscc = uscc_of_listing(listing_id)
    file = state.files.get(uscc) if uscc else None
    listing = file.listings.get(listing_id) if file else None
    if listing is None:
        raise NotFound(f"no listing {listing_id!r}")
    return file, listing


def known_listing(state: CreditState, listing_id: str) -> tuple[CreditFile | None, Listing | None]:
    """For evolve, which never refuses a fact: a listing forgotten (the oldest removed ones
    are) or never seen changes nothing."""
    try:
        return listing_of(state, listing_id)
    except NotFound:
        return None, None


def feedback_key(department: str, measure_code: str) -> str:
    return f"{department}/{measure_code}"


# ------------------------------------------------------------------------------ decide


def _give_feedback(cmd: Command, state: CreditState, rules: Rules) -> list[Message]:
    body: C.DisciplineFeedbackSubmitted = cmd.body
    if body.path == C.FEEDBACK_PATH_UNSPECIFIED:
        raise InvalidInput([Violation("path", "set by credit records: gRPC or Kafka")])
    if body.department != cmd.actor:
        raise NotPermitted(f"{cmd.actor} cannot give feedback for {body.department}")
    _, listing = listing_of(state, body.listing_id)
    measure = next((m for m in listing.measures if m.code == body.measure_code), None)
    if measure is None:
        raise InvalidInput(
            [Violation("measure_code", f"{body.measure_code!r} is not a measure of the listing")]
        )
    if measure.implementing_department != body.department:
        raise NotPermitted(
            f"measure {measure.code} is implemented by {measure.implementing_department}, "
            f"not {body.department}"
        )
    allowed = _WHILE_LISTED if listing.active else _AFTER_REMOVAL
    if body.outcome not in allowed:
        names = ", ".join(
            C.MeasureOutcome.Name(o).removeprefix("MEASURE_OUTCOME_") for o in sorted(allowed)
        )
        phase = "while the entity is listed" if listing.active else "after the listing's removal"
        raise IllegalTransition(f"{phase} a department reports {names}")
    if body.outcome == C.MEASURE_OUTCOME_REJECTED and not body.reason.strip():
        raise InvalidInput([Violation("reason", "required when a measure is rejected")])
    if len(body.reason) > _REASON_MAX:
        raise InvalidInput([Violation("reason", f"at most {_REASON_MAX} characters")])
    return [body]


def pending_measures(listing: Listing, department: str) -> list[str]:
    """The department's measures it has not reported on for the listing's current phase."""
    allowed = _WHILE_LISTED if listing.active else _AFTER_REMOVAL
    return [
        m.code
        for m in listing.measures
        if m.implementing_department == department
        and (
            (given := listing.feedback.get(feedback_key(department, m.code))) is None
            or given.outcome not in allowed
            or (not listing.active and given.at < listing.removed_at)
        )
    ]


def overdue(listing: Listing, now) -> list[Message]:
    """One FeedbackOverdue per department and missed due date."""
    return [
        C.FeedbackOverdue(
            listing_id=listing.listing_id,
            department=department,
            measure_codes=pending_measures(listing, department),
            due_at=timestamp(due),
        )
        for department, due in sorted(listing.feedback_due.items())
        if due <= now and listing.overdue_reported.get(department) != due
    ]


def lifting(listing: Listing, rules: Rules, at) -> list[Message]:
    """A removed listing's measures lifted, each department's feedback owed again."""
    due = timestamp(rules.calendar.add_working_days(at, rules.feedback_days))
    return [
        C.MeasureLifted(listing_id=listing.listing_id, measure=measure, feedback_due_at=due)
        for measure in listing.measures
    ]


DECIDERS = {C.DisciplineFeedbackSubmitted: _give_feedback}

# ------------------------------------------------------------------------------ evolve

# How a fact changes the listing it is about (and, rarely, its file); False: nothing changed.
ListingChange = Callable[[CreditFile, Listing, Message, Meta], "bool | None"]


def listing_evolver(change: ListingChange) -> Callable[..., CreditFile | None]:
    """The evolver of a fact about one listing: finds the listing (a forgotten or unknown one
    changes nothing: evolve never refuses a fact), applies ``change``, returns the file."""

    def evolver(state: CreditState, e: Message, meta: Meta) -> CreditFile | None:
        file, listing = known_listing(state, e.listing_id)
        if listing is None or change(file, listing, e, meta) is False:
            return None
        return file

    return evolver


def _on_feedback(file, listing: Listing, e: C.DisciplineFeedbackSubmitted, meta: Meta) -> None:
    listing.feedback[feedback_key(e.department, e.measure_code)] = Feedback(
        e.outcome, e.reason, e.path, meta.at
    )
    if not pending_measures(listing, e.department):
        listing.feedback_due.pop(e.department, None)
        listing.overdue_reported.pop(e.department, None)


def _on_overdue(file, listing: Listing, e: C.FeedbackOverdue, meta: Meta) -> None:
    listing.overdue_reported[e.department] = time_of(e.due_at)


def _on_lifted(file, listing: Listing, e: C.MeasureLifted, meta: Meta) -> None:
    department = e.measure.implementing_department
    listing.feedback_due[department] = time_of(e.feedback_due_at)
    listing.overdue_reported.pop(department, None)


EVOLVERS = {
    C.DisciplineFeedbackSubmitted: listing_evolver(_on_feedback),
    C.FeedbackOverdue: listing_evolver(_on_overdue),
    C.MeasureLifted: listing_evolver(_on_lifted),
}
