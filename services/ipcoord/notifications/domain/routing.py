"""Who must hear about an event on the shared log: the default rules a bureau would expect, and
the explicit subscriptions on top. Pure: the directory of who takes part in what is learnt
from the events themselves (``learn``), and ``routes`` gives each recipient once, with the
reason it hears (a default rule's name or a subscription id).

Default rules:
  handling-bureau          every fact of a case reaches the bureau handling it (a transfer:
                           both the bureau it leaves and the one it reaches);
  submitter                a rejected submission or a linked report reaches the bureau that
                           sent it;
  action-participant       a fact of a special action, or of a case enrolled in one, reaches
                           the action's lead and participating bureaus;
  right-holder             a decision reaches the case's right holder (by USCC);
  implementing-department  a listing, its removal and each lifted measure reach every
                           department that implements one of its measures, and the
                           initiating department;
  escalation               an overdue case reaches its bureau and its actions' lead bureaus;
                           overdue feedback, the late department and the initiating one.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field, replace

from google.protobuf.message import Message

from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import notifications_pb2 as N

# A case is in few actions and an action has few bureaus; bounded all the same, since
# a value rewritten on every change must stay far below a Kafka record.
ACTIONS_PER_CASE_KEPT = 50
BUREAUS_PER_ACTION_KEPT = 200
RESPONDENTS_PER_CASE_KEPT = 20


@dataclass
class CaseParties:
    handling_bureau: str = ""
    submitting_bureau: str = ""
    right_holder: str = ""  # USCC
    action_ids: list[str] = field(default_factory=list)
    respondents: list[str] = field(default_factory=list)  # USCCs


@dataclass
class ActionParties:
    lead_bureau: str = ""
    participants: list[str] = field(default_factory=list)


@dataclass
class ListingParties:
    initiating_department: str = ""
    departments: list[str] = field(default_factory=list)


@dataclass
class Directory:
    cases: MutableMapping[str, CaseParties] = field(default_factory=dict)
    actions: MutableMapping[str, ActionParties] = field(default_factory=dict)
    listings: MutableMapping[str, ListingParties] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    recipient: str  # a bureau id or a USCC
    reason: str  # a default rule's name, or the subscription's id
    # (subscription id, URL) of the recipient's webhooks that take the event.
    webhooks: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class About:
    """What subscription filters match on: the event's type, case, actions and entities."""

    event_type: str
    case_id: str = ""
    action_ids: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()


# ------------------------------------------------------------------------------ learn


def learn(directory: Directory, event: Message) -> None:
    """Keep who takes part in what; applying an event twice changes nothing more. Values
    read are copied before they change (a table's read cache hands out its own objects)."""
    match event:
        case S.CaseFiled():
            known = directory.cases.get(event.case_id)  # enrolled first: its actions stay
            directory.cases[event.case_id] = CaseParties(
                handling_bureau=event.handling_bureau,
                submitting_bureau=event.submitting_bureau,
                right_holder=event.report.right_holder.uscc,
                action_ids=list(known.action_ids) if known else [],
                respondents=_unique(r.entity.uscc for r in event.report.respondents)[
                    :RESPONDENTS_PER_CASE_KEPT
                ],
            )
        case S.CaseTransferred():
            parties = replace(directory.cases.get(event.case_id) or CaseParties())
            parties.handling_bureau = event.to_bureau
            directory.cases[event.case_id] = parties
        case S.CaseEnrolled():
            parties = replace(directory.cases.get(event.case_id) or CaseParties())
            if event.action_id not in parties.action_ids:
                parties.action_ids = [*parties.action_ids, event.action_id][-ACTIONS_PER_CASE_KEPT:]
                directory.cases[event.case_id] = parties
        case S.SpecialActionLaunched():
            directory.actions[event.action_id] = ActionParties(
                event.lead_bureau, _unique(event.participating_bureaus)[:BUREAUS_PER_ACTION_KEPT]
            )
        case S.SpecialActionJoined():
            parties = replace(directory.actions.get(event.action_id) or ActionParties())
            if event.bureau not in parties.participants:
                parties.participants = [*parties.participants, event.bureau][
                    :BUREAUS_PER_ACTION_KEPT
                ]
                directory.actions[event.action_id] = parties
        case C.SeriousDishonestyListed():
            directory.listings[event.listing_id] = ListingParties(
                event.initiating_department,
                _unique(m.implementing_department for m in event.measures),
            )


# ------------------------------------------------------------------------------ routes


def routes(
    directory: Directory, event: Message, subscriptions: Iterable[N.Subscription] = ()
) -> list[Route]:
    """Every recipient of ``event`` once, the default rules first (call after ``learn``),
    with the webhooks of the recipient's matching subscriptions (a recipient told by a
    default rule still gets its webhook when one of its subscriptions asks for it)."""
    found: dict[str, Route] = {}
    for recipient, reason in _default(directory, event):
        if recipient and recipient not in found:
            found[recipient] = Route(recipient, reason)
    about = about_of(directory, event)
    for subscription in subscriptions:
        if not matches(subscription.filter, about):
            continue
        route = found.get(subscription.recipient) or Route(
            subscription.recipient, subscription.subscription_id
        )
        if N.CHANNEL_WEBHOOK in subscription.channels and subscription.webhook_url:
            hook = (subscription.subscription_id, subscription.webhook_url)
            route = replace(route, webhooks=(*route.webhooks, hook))
        found[subscription.recipient] = route
    return list(found.values())


def _default(directory: Directory, event: Message) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    case_id = getattr(event, "case_id", "")
    parties = directory.cases.get(case_id) if case_id else None
    if isinstance(event, S.CaseTransferred):
        out += [(event.from_bureau, "handling-bureau"), (event.to_bureau, "handling-bureau")]
    elif parties is not None:
        out.append((parties.handling_bureau, "handling-bureau"))
    if isinstance(event, (S.SubmissionRejected, S.ReportLinked)):
        out.append((event.submitting_bureau, "submitter"))
    if isinstance(event, S.CaseDecided):
        holder = event.right_holder.uscc or (parties.right_holder if parties else "")
        out.append((holder, "right-holder"))
    if isinstance(event, S.CaseOverdue):
        out.append((event.handling_bureau, "escalation"))
        for action_id in event.action_ids:
            action = directory.actions.get(action_id)
            if action is not None:
                out.append((action.lead_bureau, "escalation"))
    for action_id in _actions_of(directory, event, parties):
        action = directory.actions.get(action_id)
        if action is not None:
            out += [(b, "action-participant") for b in [action.lead_bureau, *action.participants]]
    listing = directory.listings.get(getattr(event, "listing_id", ""))
    if isinstance(event, C.FeedbackOverdue):
        out.append((event.department, "escalation"))
        if listing is not None:
            out.append((listing.initiating_department, "escalation"))
    elif isinstance(event, C.MeasureLifted):
        out.append((event.measure.implementing_department, "implementing-department"))
        if listing is not None:
            out.append((listing.initiating_department, "implementing-department"))
    elif isinstance(event, (C.SeriousDishonestyListed, C.ListingRemoved)) and listing:
        out += [
            (d, "implementing-department")
            for d in [listing.initiating_department, *listing.departments]
        ]
    return out


def _actions_of(directory: Directory, event: Message, parties: CaseParties | None) -> list[str]:
    if isinstance(event, S.CaseOverdue):
        return []  # the escalation rule names the leads; participants are not escalated to
    action_id = getattr(event, "action_id", "")
    if isinstance(event, (S.SpecialActionLaunched, S.SpecialActionJoined, S.CaseEnrolled)):
        return [action_id]
    if isinstance(event, S.SpecialActionConcluded):
        return [action_id]
    return list(parties.action_ids) if parties else []


# ------------------------------------------------------------------------------ subscriptions


def about_of(directory: Directory, event: Message) -> About:
    case_id = getattr(event, "case_id", "") or getattr(event, "source_case_id", "")
    parties = directory.cases.get(case_id)
    actions = set(parties.action_ids if parties else ())
    if getattr(event, "action_id", ""):
        actions.add(event.action_id)
    # A case's facts are about its right holder and its respondents.
    entities = set(parties.respondents if parties else ())
    if parties is not None and parties.right_holder:
        entities.add(parties.right_holder)
    entity = getattr(event, "entity", None)
    if entity is not None and entity.uscc:
        entities.add(entity.uscc)
    if isinstance(event, S.CaseDecided) and event.decision.respondent_uscc:
        entities.add(event.decision.respondent_uscc)
    return About(type(event).__name__, case_id, tuple(sorted(actions)), tuple(sorted(entities)))


def matches(flt: N.SubscriptionFilter, about: About) -> bool:
    """Every filter given must match (an empty one matches anything)."""
    return (
        (not flt.event_types or about.event_type in flt.event_types)
        and (not flt.case_ids or about.case_id in flt.case_ids)
        and (not flt.action_ids or bool(set(flt.action_ids) & set(about.action_ids)))
        and (not flt.entities or bool(set(flt.entities) & set(about.entities)))
    )


def _unique(items) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))
