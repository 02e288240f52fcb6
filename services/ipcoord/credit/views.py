"""Credit state -> the protobuf views gRPC returns (the facts' own messages, as they stand)."""

from __future__ import annotations

from ipcoord.credit.domain.discipline import pending_measures
from ipcoord.credit.state import CreditFile, Listing, Record
from ipcoord.platform.table_codec import timestamp
from ipcoord.v1 import common_pb2
from ipcoord.v1 import credit_pb2 as C


def entity(file: CreditFile) -> common_pb2.Entity:
    return common_pb2.Entity(uscc=file.uscc, name=file.name)


def record_view(file: CreditFile, record: Record) -> C.DishonestyRecorded:
    return C.DishonestyRecorded(
        record_id=record.record_id,
        entity=entity(file),
        behaviour=record.behaviour,
        source_case_id=record.source_case_id,
        recorded_by=record.recorded_by,
        occurred_at=timestamp(record.occurred_at),
    )


def listing_view(file: CreditFile, listing: Listing) -> C.SeriousDishonestyListed:
    return C.SeriousDishonestyListed(
        listing_id=listing.listing_id,
        entity=entity(file),
        related_persons=listing.related_persons,
        behaviours=listing.behaviours,
        record_ids=listing.record_ids,
        initiating_department=listing.initiating_department,
        listed_at=timestamp(listing.listed_at),
        expires_at=timestamp(listing.expires_at),
        measures=listing.measures,
        feedback_deadlines=[
            common_pb2.Deadline(name=department, due_at=timestamp(due))
            for department, due in sorted(listing.feedback_due.items())
        ],
        rule=listing.rule,
    )


def removal_view(file: CreditFile, listing: Listing) -> C.ListingRemoved:
    return C.ListingRemoved(
        listing_id=listing.listing_id,
        entity=entity(file),
        reason=listing.removal_reason,
        detail=listing.removal_detail,
        removed_at=timestamp(listing.removed_at),
    )


def feedback_view(listing: Listing) -> C.ListingFeedback:
    departments = dict.fromkeys(m.implementing_department for m in listing.measures)
    return C.ListingFeedback(
        listing_id=listing.listing_id,
        feedback=[
            C.DisciplineFeedbackSubmitted(
                listing_id=listing.listing_id,
                department=key.split("/", 1)[0],
                measure_code=key.split("/", 1)[1],
                outcome=given.outcome,
                reason=given.reason,
                path=given.path,
            )
            for key, given in listing.feedback.items()
        ],
        departments_pending=[d for d in departments if pending_measures(listing, d)],
    )


def listing_status(file: CreditFile, listing: Listing) -> C.ListingStatus:
    return C.ListingStatus(
        listing=listing_view(file, listing),
        active=listing.active,
        removal=None if listing.active else removal_view(file, listing),
        deadlines=[
            common_pb2.Deadline(name=name, due_at=timestamp(due))
            for name, due in sorted(listing.deadlines.items())
        ],
        objection_grounds=listing.objection_grounds,
        repair_statement=listing.repair_statement,
    )
