"""What each gRPC command of credit records returns, built by the writer from its state right
after the command (request-reply: the caller may be on another replica)."""

from __future__ import annotations

from google.protobuf.message import Message

from ipcoord.credit import views
from ipcoord.credit.domain.discipline import known_listing
from ipcoord.credit.state import CreditState
from ipcoord.platform import codec
from ipcoord.v1 import credit_pb2 as C


def answer(body: Message, facts: list[codec.Envelope], state: CreditState) -> Message | None:
    if isinstance(body, C.RecordDishonesty):
        recorded = [
            codec.body_of(f) for f in facts if f.WhichOneof("body") == "dishonesty_recorded"
        ]
        if recorded:
            return recorded[0]
        # Already on record (the same behaviour in the same case): the record as it stands.
        file = state.files.get(body.entity.uscc)
        for record in reversed(file.records if file else []):
            if record.source_case_id == body.source_case_id and record.behaviour == body.behaviour:
                return views.record_view(file, record)
        return None
    if isinstance(body, C.DisciplineFeedbackSubmitted):
        _, listing = known_listing(state, body.listing_id)
        return views.feedback_view(listing) if listing else None
    if isinstance(body, _ABOUT_A_LISTING):
        file, listing = known_listing(state, body.listing_id)
        return views.listing_status(file, listing) if listing else None
    return None


# Objection and repair: the caller gets the listing as it now stands.
_ABOUT_A_LISTING = (
    C.ObjectToListing,
    C.DecideObjection,
    C.RequestCreditRepair,
    C.AcknowledgeRepairRequest,
    C.DecideCreditRepair,
)
