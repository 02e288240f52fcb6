"""What each of credit records' stored tables keeps: its value in the domain (state.py) <-> the
protobuf message declared for it in protos/ipcoord/v1/credit_state.proto. ``watched`` is not
stored: it is a function of the files, rebuilt in memory like intake's derived indexes."""

from __future__ import annotations

from datetime import datetime

from ipcoord.credit.state import CreditFile, Feedback, Listing, OnlineRespondent, Record
from ipcoord.platform.table_codec import TableCodec, time_of, timestamp
from ipcoord.v1 import common_pb2
from ipcoord.v1 import credit_state_pb2 as R


def _deadlines(times: dict[str, datetime]) -> list[common_pb2.Deadline]:
    return [common_pb2.Deadline(name=name, due_at=timestamp(at)) for name, at in times.items()]


def _times(deadlines) -> dict[str, datetime]:
    return {d.name: time_of(d.due_at) for d in deadlines}


def _listing_record(listing: Listing) -> R.ListingRecord:
    return R.ListingRecord(
        listing_id=listing.listing_id,
        rule=listing.rule,
        behaviours=listing.behaviours,
        record_ids=listing.record_ids,
        initiating_department=listing.initiating_department,
        listed_at=timestamp(listing.listed_at),
        expires_at=timestamp(listing.expires_at),
        measures=listing.measures,
        related_persons=listing.related_persons,
        feedback=[
            R.FeedbackEntry(
                key=key, outcome=f.outcome, reason=f.reason, path=f.path, at=timestamp(f.at)
            )
            for key, f in listing.feedback.items()
        ],
        feedback_due=_deadlines(listing.feedback_due),
        overdue_reported=_deadlines(listing.overdue_reported),
        deadlines=_deadlines(listing.deadlines),
        deadlines_missed=_deadlines(listing.deadlines_missed),
        objection_grounds=listing.objection_grounds,
        repair_statement=listing.repair_statement,
        removed_at=None if listing.removed_at is None else timestamp(listing.removed_at),
        removal_reason=listing.removal_reason,
        removal_detail=listing.removal_detail,
    )


def _listing(r: R.ListingRecord) -> Listing:
    return Listing(
        listing_id=r.listing_id,
        rule=r.rule,
        behaviours=list(r.behaviours),
        record_ids=list(r.record_ids),
        initiating_department=r.initiating_department,
        listed_at=time_of(r.listed_at),
        expires_at=time_of(r.expires_at),
        measures=list(r.measures),
        related_persons=list(r.related_persons),
        feedback={f.key: Feedback(f.outcome, f.reason, f.path, time_of(f.at)) for f in r.feedback},
        feedback_due=_times(r.feedback_due),
        overdue_reported=_times(r.overdue_reported),
        deadlines=_times(r.deadlines),
        deadlines_missed=_times(r.deadlines_missed),
        objection_grounds=r.objection_grounds,
        repair_statement=r.repair_statement,
        removed_at=time_of(r.removed_at) if r.HasField("removed_at") else None,
        removal_reason=r.removal_reason,
        removal_detail=r.removal_detail,
    )


def _file_record(file: CreditFile) -> R.CreditFileRecord:
    return R.CreditFileRecord(
        uscc=file.uscc,
        name=file.name,
        records=[
            R.DishonestyRecordEntry(
                record_id=r.record_id,
                behaviour=r.behaviour,
                source_case_id=r.source_case_id,
                recorded_by=r.recorded_by,
                occurred_at=timestamp(r.occurred_at),
            )
            for r in file.records
        ],
        record_count=file.record_count,
        listings=[_listing_record(listing) for listing in file.listings.values()],
        listings_made=file.listings_made,
        related_persons=file.related_persons,
    )


def _file(r: R.CreditFileRecord) -> CreditFile:
    return CreditFile(
        uscc=r.uscc,
        name=r.name,
        records=[
            Record(
                e.record_id, e.behaviour, e.source_case_id, e.recorded_by, time_of(e.occurred_at)
            )
            for e in r.records
        ],
        record_count=r.record_count,
        listings={listing.listing_id: _listing(listing) for listing in r.listings},
        listings_made=r.listings_made,
        related_persons=list(r.related_persons),
    )


def _respondent_record(respondent: OnlineRespondent) -> R.OnlineRespondentRecord:
    return R.OnlineRespondentRecord(
        online_key=respondent.online_key,
        entity={"uscc": respondent.uscc, "name": respondent.name},
        held=respondent.held,
    )


def _respondent(r: R.OnlineRespondentRecord) -> OnlineRespondent:
    return OnlineRespondent(r.online_key, r.entity.uscc, r.entity.name, list(r.held))


CODECS: dict[str, TableCodec] = {
    "files": TableCodec(R.CreditFileRecord, _file_record, _file),
    "respondents": TableCodec(R.OnlineRespondentRecord, _respondent_record, _respondent),
}
