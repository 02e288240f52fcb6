"""Credit records rules: decide(command, state, rules) -> facts; evolve(state, fact, meta).
No I/O.

Commands are the CreditCommand cases with who gave them; facts are the protobuf events of
ipcoord.credit.v1, each about one entity (USCC). Refusals raise DomainError subclasses carrying
a RefusalCode. This module only dispatches, to one module per sub-domain:

  records     dishonesty records (from intake's decisions and from authorised bureaus), the
              listing rules they meet, related persons
  discipline  departments' feedback per measure, overdue feedback, lifting after removal
  remedies    objection, credit repair, expiry, and the clock over every watched deadline
  online      decisions against respondents known only online, held until intake
              identifies the entity behind them

Each evolver changes the credit file it is about and returns it (None: nothing changed; the
online evolvers change an online respondent and write it back themselves);
evolve writes it back here, once, and keeps the clock's index of what falls due: the one place
a change reaches the table.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from google.protobuf.message import Message

from ipcoord.credit.domain import discipline, online, records, remedies
from ipcoord.credit.domain.shared import Command, Meta, Rules
from ipcoord.credit.state import (
    ACTIVE_LISTINGS,
    ALL_LISTINGS,
    DERIVED_INDEXES,
    CreditFile,
    CreditState,
    listed_person_keys,
)
from ipcoord.platform import caseset
from ipcoord.platform.dispatch import one_handler_each
from ipcoord.platform.errors import InvalidInput, Violation

__all__ = [
    "Command",
    "Meta",
    "Rules",
    "decide",
    "evolve",
    "follow",
    "rebuild_indexes",
    "rebuilding",
]


_DECIDERS = one_handler_each(
    records.DECIDERS, discipline.DECIDERS, remedies.DECIDERS, online.DECIDERS
)
_EVOLVERS = one_handler_each(
    records.EVOLVERS, discipline.EVOLVERS, remedies.EVOLVERS, online.EVOLVERS
)


def decide(command: Command, state: CreditState, rules: Rules) -> list[Message]:
    handler = _DECIDERS.get(type(command.body))
    if handler is None:
        raise InvalidInput(
            [Violation("command", f"{type(command.body).__name__} is not a credit command")]
        )
    return handler(command, state, rules)


def evolve(state: CreditState, event: Message, meta: Meta) -> CreditState:
    """Apply one fact. Facts about different entities commute; a fact applied twice changes
    nothing the second time."""
    handler = _EVOLVERS.get(type(event))
    if handler is None:
        return state
    file = handler(state, event, meta)
    if file is not None:
        state.files[file.uscc] = file
        follow(state, file)
    return state


def follow(state: CreditState, file: CreditFile) -> None:
    """Bring the derived indexes in line with a file as it now stands: what the clock watches,
    and the persons its active listings name."""
    due = remedies.next_due(file)
    if due is None:
        state.watched.pop(file.uscc, None)
    elif state.watched.get(file.uscc) != due:
        state.watched[file.uscc] = due
    _follow_listings(state, file)
    before, now = state.persons_of.get(file.uscc, []), listed_person_keys(file)
    if before == now:
        return
    for key in set(before) - set(now):
        usccs = [u for u in state.persons.get(key, []) if u != file.uscc]
        if usccs:
            state.persons[key] = usccs
        else:
            state.persons.pop(key, None)
    for key in set(now) - set(before):
        state.persons[key] = sorted({*state.persons.get(key, []), file.uscc})
    if now:
        state.persons_of[file.uscc] = now
    else:
        state.persons_of.pop(file.uscc, None)


def _follow_listings(state: CreditState, file: CreditFile) -> None:
    index, now = state.listing_index, sorted(file.listings)
    for gone in set(state.listings_of.get(file.uscc, [])) - set(now):
        caseset.remove(index, ALL_LISTINGS, gone)  # forgotten: the oldest removed ones
        caseset.remove(index, ACTIVE_LISTINGS, gone)
    for listing in file.listings.values():
        caseset.add(index, ALL_LISTINGS, listing.listing_id)
        if listing.active:
            caseset.add(index, ACTIVE_LISTINGS, listing.listing_id)
        else:
            caseset.remove(index, ACTIVE_LISTINGS, listing.listing_id)
    if now:
        if state.listings_of.get(file.uscc) != now:
            state.listings_of[file.uscc] = now
    else:
        state.listings_of.pop(file.uscc, None)


def rebuilding(state: CreditState, every: int) -> Iterator[int]:
    """Empty the derived indexes and follow every file again (the service does this at each
    assignment), yielding the number of files read every ``every`` and at the end."""
    for name in DERIVED_INDEXES:
        getattr(state, name).clear()
    count = 0
    for file in state.files.values():
        follow(state, file)
        count += 1
        if count % every == 0:
            yield count
    yield count


def rebuild_indexes(state: CreditState) -> int:
    """``rebuilding`` in one go; returns the number of files read."""
    return deque(rebuilding(state, every=1 << 30), maxlen=1)[0]
