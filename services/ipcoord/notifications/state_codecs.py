"""What each stored table of the notifications service keeps, as the protobuf message declared
for it in protos/ipcoord/v1/notifications_state.proto. The directory's values are the routing
rules' dataclasses; the other tables keep their messages as they are."""

from __future__ import annotations

from ipcoord.notifications.domain.routing import ActionParties, CaseParties, ListingParties
from ipcoord.platform.table_codec import MessageCodec, TableCodec
from ipcoord.v1 import notifications_pb2 as N
from ipcoord.v1 import notifications_state_pb2 as R

ROUTER_CODECS: dict[str, TableCodec] = {
    "cases": TableCodec(
        R.CaseParties,
        lambda p: R.CaseParties(
            handling_bureau=p.handling_bureau,
            submitting_bureau=p.submitting_bureau,
            right_holder=p.right_holder,
            action_ids=p.action_ids,
            respondents=p.respondents,
        ),
        lambda r: CaseParties(
            r.handling_bureau,
            r.submitting_bureau,
            r.right_holder,
            list(r.action_ids),
            list(r.respondents),
        ),
    ),
    "actions": TableCodec(
        R.ActionParties,
        lambda p: R.ActionParties(lead_bureau=p.lead_bureau, participants=p.participants),
        lambda r: ActionParties(r.lead_bureau, list(r.participants)),
    ),
    "listings": TableCodec(
        R.ListingParties,
        lambda p: R.ListingParties(
            initiating_department=p.initiating_department, departments=p.departments
        ),
        lambda r: ListingParties(r.initiating_department, list(r.departments)),
    ),
    "subscriptions_of": MessageCodec(R.RecipientSubscriptions),
}

RECIPIENT_CODECS: dict[str, TableCodec] = {
    "inboxes": MessageCodec(R.InboxRecord),
    "notifications": MessageCodec(N.Notification),
    "notification_ids": MessageCodec(R.NotificationRef),
    "pending": MessageCodec(R.PendingWebhook),
}
