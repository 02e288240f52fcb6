"""Intake rules: decide(command, state, rules) -> facts; evolve(state, fact, meta) -> state.
No I/O.

Commands are the protobuf command messages (ReportSubmitted, the IntakeCommand cases) with who
sent them; facts are the protobuf events of ipcoord.cases.v1. Refusals raise DomainError
subclasses carrying a RefusalCode. This module only dispatches, to one module per sub-domain,
each owning decide and evolve for its facts:

  filing      a report files a case or is linked into one; references are idempotency keys
  tracing     the match index, identifying a seller, links between cases of one source
  lifecycle   accept, reject, assign, investigate, decide, close, transfer, evidence
  actions     special actions, enrolment (by hand and by criteria), progress counts
  fast_track  target enterprises, deadlines, the clock's CheckDeadlines, relayed listings
  case_facts  how any fact about a case is applied, and what follows the case's standing
  indexes     the indexes derivable from the cases, and their rebuild (the service keeps
              them in memory)
"""

from __future__ import annotations

import dataclasses

from google.protobuf.message import Message

from ipcoord.intake import normalise
from ipcoord.intake.domain import actions, case_facts, fast_track, filing, lifecycle, tracing
from ipcoord.intake.domain.actions import action_progress
from ipcoord.intake.domain.filing import known_submission, report_digest
from ipcoord.intake.domain.shared import Command, Meta, Rules
from ipcoord.intake.keys import case_id_for
from ipcoord.intake.state import IntakeState
from ipcoord.platform.dispatch import one_handler_each
from ipcoord.platform.errors import InvalidInput, Violation

__all__ = [
    "Command",
    "Meta",
    "Rules",
    "action_progress",
    "case_id_for",
    "decide",
    "evolve",
    "known_submission",
    "report_digest",
]


_DECIDERS = one_handler_each(
    filing.DECIDERS,
    tracing.DECIDERS,
    lifecycle.DECIDERS,
    actions.DECIDERS,
    fast_track.DECIDERS,
)
_EVOLVERS = one_handler_each(
    filing.EVOLVERS,
    tracing.EVOLVERS,
    actions.EVOLVERS,
    fast_track.EVOLVERS,
    case_facts.evolvers(
        one_handler_each(
            lifecycle.CASE_CHANGES,
            actions.CASE_CHANGES,
            fast_track.CASE_CHANGES,
        )
    ),
)


def decide(command: Command, state: IntakeState, rules: Rules) -> list[Message]:
    handler = _DECIDERS.get(type(command.body))
    if handler is None:
        raise InvalidInput(
            [Violation("command", f"{type(command.body).__name__} is not an intake command")]
        )
    # One reading of USCCs for every rule and every fact: lower case is the same entity.
    command = dataclasses.replace(command, body=normalise.with_normalised_usccs(command.body))
    return handler(command, state, rules)


def evolve(state: IntakeState, event: Message, meta: Meta) -> IntakeState:
    """Apply one fact. Facts about different keys commute, so a replay of the partitioned
    log in any interleaving reaches the same state."""
    handler = _EVOLVERS.get(type(event))
    if handler is not None:
        handler(state, event, meta)
    return state
