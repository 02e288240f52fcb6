"""Dishonesty records, and the listing rules they meet.

A case intake decided as infringement established (or refused to comply with) becomes a record
on the respondent; authorised bureaus record the other behaviours directly. Whenever a record
is added, each listing rule counts the entity's records of its behaviour (within its window,
not yet used by a listing under the same rule): when it reaches its threshold the entity is
listed, with the measures of the rule, their implementing departments' feedback deadlines and
the related persons recorded with the entity."""

from __future__ import annotations

import bisect

from google.protobuf.message import Message

from ipcoord.credit.domain.shared import Command, ListingRule, Meta, Rules, years_after
from ipcoord.credit.state import (
    RECORDS_KEPT,
    RELATED_PERSONS_KEPT,
    CreditFile,
    CreditState,
    Listing,
    Record,
    listing_id_for,
)
from ipcoord.platform.errors import InvalidInput, NotPermitted, Violation
from ipcoord.platform.table_codec import time_of, timestamp
from ipcoord.platform.uscc import uscc_problem
from ipcoord.v1 import credit_pb2 as C

# Behaviours that only the rules produce: a bureau records the facts behind them instead.
_DERIVED = frozenset(
    {C.DISHONEST_BEHAVIOUR_INFRINGEMENT, C.DISHONEST_BEHAVIOUR_REPEATED_PATENT_INFRINGEMENT}
)
_NOTE_MAX = 2_000
_ID_MAX = 100
_NAME_MAX = 200


def file_of(state: CreditState, uscc: str) -> CreditFile:
    return state.files.get(uscc) or CreditFile(uscc)


def check_uscc(uscc: str, rules: Rules, field: str = "entity.uscc") -> None:
    problem = uscc_problem(uscc, rules.uscc_allow) if uscc else "required"
    if problem:
        raise InvalidInput([Violation(field, problem)])


# ------------------------------------------------------------------------------ decide


def _note_decided_case(cmd: Command, state: CreditState, rules: Rules) -> list[Message]:
    body: C.NoteDecidedCase = cmd.body
    uscc = body.respondent.uscc
    behaviours = []
    if body.infringement_established:
        behaviours.append(C.DISHONEST_BEHAVIOUR_INFRINGEMENT)
    if body.refused_to_comply:
        behaviours.append(C.DISHONEST_BEHAVIOUR_REFUSAL_TO_COMPLY)
    if not behaviours:
        return []  # decided without infringement: nothing to record
    check_uscc(uscc, rules, "respondent.uscc")
    violations = decision_violations(body, rules)
    if violations:
        raise InvalidInput(violations)
    file = file_of(state, uscc)
    records = [
        C.DishonestyRecorded(
            record_id=f"R-{body.case_id}-{behaviour}",
            entity=body.respondent,
            behaviour=behaviour,
            source_case_id=body.case_id,
            recorded_by=body.by_bureau,
            occurred_at=body.decided_at,
        )
        for behaviour in behaviours
        # A decision relayed again, or a case decided again, is recorded once.
        if not file.has_record_of(body.case_id, behaviour)
    ]
    return [*records, *listings_met(file, records, rules, cmd)]


def decision_violations(body: C.NoteDecidedCase, rules: Rules) -> list[Violation]:
    """What a relayed decision must be: intake validated it, but the command topic only
    declares its writer (docs/credit.md, "Trust"), so its sizes and names are checked again."""
    violations = []
    if not body.case_id or len(body.case_id) > _ID_MAX or "/" in body.case_id:
        violations.append(Violation("case_id", f"required, at most {_ID_MAX} characters"))
    if body.by_bureau not in rules.bureaus:
        violations.append(Violation("by_bureau", f"unknown bureau {body.by_bureau!r}"))
    if len(body.respondent.name) > _NAME_MAX:
        violations.append(Violation("respondent.name", f"at most {_NAME_MAX} characters"))
    if not body.HasField("decided_at"):
        violations.append(Violation("decided_at", "required"))
    return violations


def _record_dishonesty(cmd: Command, state: CreditState, rules: Rules) -> list[Message]:
    body: C.RecordDishonesty = cmd.body
    if cmd.actor not in rules.recording_bureaus:
        raise NotPermitted(f"{cmd.actor} may not record dishonest behaviour directly")
    violations = _record_violations(body, rules)
    if violations:
        raise InvalidInput(violations)
    file = file_of(state, body.entity.uscc)
    if body.source_case_id and file.has_record_of(body.source_case_id, body.behaviour):
        return []  # this behaviour in this case is on record already
    occurred = body.occurred_at if body.HasField("occurred_at") else timestamp(cmd.at)
    record = C.DishonestyRecorded(
        record_id=f"R-{cmd.event_id}",
        entity=body.entity,
        behaviour=body.behaviour,
        source_case_id=body.source_case_id,
        recorded_by=cmd.actor,
        occurred_at=occurred,
    )
    persons = [C.RelatedPersonsRecorded(entity=body.entity, persons=body.related_persons)]
    persons = persons if body.related_persons else []
    return [record, *persons, *listings_met(file, [record], rules, cmd, body.related_persons)]


def _record_violations(body: C.RecordDishonesty, rules: Rules) -> list[Violation]:
    violations = []
    try:
        check_uscc(body.entity.uscc, rules)
    except InvalidInput as invalid:
        violations += invalid.violations
    if len(body.entity.name) > _NAME_MAX:
        violations.append(Violation("entity.name", f"at most {_NAME_MAX} characters"))
    if len(body.source_case_id) > _ID_MAX:
        violations.append(Violation("source_case_id", f"at most {_ID_MAX} characters"))
    if body.behaviour not in C.DishonestBehaviour.values() or not body.behaviour:
        violations.append(Violation("behaviour", "required: one of the dishonest behaviours"))
    elif body.behaviour in _DERIVED:
        violations.append(
            Violation(
                "behaviour",
                "infringements come from decided cases (intake); repeated infringement is "
                "what the listing rules conclude from them",
            )
        )
    if len(body.note) > _NOTE_MAX:
        violations.append(Violation("note", f"at most {_NOTE_MAX} characters"))
    if len(body.related_persons) > RELATED_PERSONS_KEPT:
        violations.append(Violation("related_persons", f"at most {RELATED_PERSONS_KEPT}"))
    for i, person in enumerate(body.related_persons):
        if not person.role:
            violations.append(Violation(f"related_persons[{i}].role", "required"))
        if not person.display_name.strip() or len(person.display_name) > _NAME_MAX:
            violations.append(Violation(f"related_persons[{i}].display_name", "required"))
        if len(person.id_number_hmac) != 32 or not person.hash_key_id:
            violations.append(
                Violation(f"related_persons[{i}].id_number_hmac", "a keyed hash, with its key id")
            )
    return violations


def listings_met(
    file: CreditFile,
    new: list[C.DishonestyRecorded],
    rules: Rules,
    cmd: Command,
    new_persons=(),
) -> list[Message]:
    """The listings the new records make: each rule whose count they complete, once (a rule
    with an active listing of the entity waits until it is removed)."""
    if not new:
        return []
    records = [*file.records, *(_record(r) for r in new)]
    new_ids = {r.record_id for r in new}
    listings, made = [], file.listings_made
    for rule in rules.listing_rules:
        if any(listing.rule == rule.name for listing in file.active_listings()):
            continue
        counted = _counted(records, file, rule, cmd)
        if len(counted) < rule.at_least or not new_ids & {r.record_id for r in counted}:
            continue
        made += 1
        name = new[-1].entity.name
        listings.append(_listing(file, rule, counted, rules, cmd, made, new_persons, name))
    return listings


def _counted(records: list[Record], file: CreditFile, rule: ListingRule, cmd: Command):
    used = {
        rid
        for listing in file.listings.values()
        if listing.rule == rule.name
        for rid in listing.record_ids
    }
    since = years_after(cmd.at, -rule.within_years) if rule.within_years else None
    return [
        r
        for r in records
        if r.behaviour == rule.counts
        and r.record_id not in used
        and (since is None or r.occurred_at >= since)
    ]


def _listing(
    file, rule: ListingRule, counted, rules: Rules, cmd: Command, number: int, new_persons, name
):
    due = rules.calendar.add_working_days(cmd.at, rules.feedback_days)
    persons = {
        (p.role, p.hash_key_id, p.id_number_hmac): p for p in [*file.related_persons, *new_persons]
    }
    return C.SeriousDishonestyListed(
        listing_id=listing_id_for(file.uscc, number),
        # The name the newest record gives, else the one on file.
        entity={"uscc": file.uscc, "name": name or file.name},
        related_persons=list(persons.values())[-RELATED_PERSONS_KEPT:],
        behaviours=[rule.lists_as],
        record_ids=[r.record_id for r in counted],
        initiating_department=rule.initiating_department,
        listed_at=timestamp(cmd.at),
        expires_at=timestamp(years_after(cmd.at, rules.listing_term_years)),
        measures=[rules.measures[code] for code in rules.measures if code in rule.measure_codes],
        feedback_deadlines=[
            {"name": department, "due_at": timestamp(due)}
            for department in rules.departments_of(rule.measure_codes)
        ],
        rule=rule.name,
    )


def _record(e: C.DishonestyRecorded) -> Record:
    return Record(e.record_id, e.behaviour, e.source_case_id, e.recorded_by, time_of(e.occurred_at))


DECIDERS = {C.NoteDecidedCase: _note_decided_case, C.RecordDishonesty: _record_dishonesty}

# ------------------------------------------------------------------------------ evolve


def _on_recorded(state: CreditState, e: C.DishonestyRecorded, meta: Meta) -> CreditFile | None:
    file = file_of(state, e.entity.uscc)
    if any(r.record_id == e.record_id for r in file.records):
        return None
    bisect.insort(file.records, _record(e), key=lambda r: (r.occurred_at, r.record_id))
    del file.records[:-RECORDS_KEPT]
    file.record_count += 1
    file.name = e.entity.name or file.name
    return file


def _on_persons(state: CreditState, e: C.RelatedPersonsRecorded, meta: Meta) -> CreditFile:
    file = file_of(state, e.entity.uscc)
    known = {(p.role, p.hash_key_id, p.id_number_hmac): p for p in file.related_persons}
    for person in e.persons:
        known.pop((person.role, person.hash_key_id, person.id_number_hmac), None)
        known[(person.role, person.hash_key_id, person.id_number_hmac)] = person
    file.related_persons = list(known.values())[-RELATED_PERSONS_KEPT:]
    return file


def _on_listed(state: CreditState, e: C.SeriousDishonestyListed, meta: Meta) -> CreditFile | None:
    file = file_of(state, e.entity.uscc)
    if e.listing_id in file.listings:
        return None
    file.listings[e.listing_id] = Listing(
        listing_id=e.listing_id,
        rule=e.rule,
        behaviours=list(e.behaviours),
        record_ids=list(e.record_ids),
        initiating_department=e.initiating_department,
        listed_at=time_of(e.listed_at),
        expires_at=time_of(e.expires_at),
        measures=list(e.measures),
        related_persons=list(e.related_persons),
        feedback_due={d.name: time_of(d.due_at) for d in e.feedback_deadlines},
    )
    file.listings_made = max(file.listings_made, int(e.listing_id.rsplit("-", 1)[1]))
    return file


EVOLVERS = {
    C.DishonestyRecorded: _on_recorded,
    C.RelatedPersonsRecorded: _on_persons,
    C.SeriousDishonestyListed: _on_listed,
}
