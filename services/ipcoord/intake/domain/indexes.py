"""The indexes derivable from the cases: the match index (source tracing), the case sets of
actions and bureaus, and the actions' progress counts.

Each is a function of the cases as they stand (and of the identities, for the match index):
a case is indexed under ``with_identities(match_keys)`` with its rank, in the sets of the
bureaus handling and submitting it and of the actions it is enrolled in, and counted once per
action under its handler and status. So the service keeps them in memory instead of in tables,
rebuilds them from the cases table whenever its writer (re)gains the partition, and evolve
keeps them up between rebuilds like any other state. That spares every filing three to five
table writes (each a rocksdb put and a changelog record), the bulk of what a command cost."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from ipcoord.intake.domain import actions, lifecycle, tracing
from ipcoord.intake.domain.shared import Standing
from ipcoord.intake.state import DERIVED_INDEXES, Case, IntakeState

_NOT_YET = Standing(handling_bureau="", status=0, action_ids=())


def clear(state: IntakeState) -> None:
    for name in DERIVED_INDEXES:
        getattr(state, name).clear()


def add_case(state: IntakeState, case: Case) -> None:
    """Index one case as it stands, into indexes that do not hold it yet."""
    tracing.index_all(state, case.match_keys, case)
    lifecycle.index_bureaus(state, case)
    actions.follow(state, case, _NOT_YET)


def rebuilding(state: IntakeState, every: int) -> Iterator[int]:
    """Empty the derived indexes of ``state`` and index every case again, yielding the number
    of cases read every ``every`` and at the end (the service turns its loop in between)."""
    clear(state)
    count = 0
    for case in state.cases.values():
        add_case(state, case)
        count += 1
        if count % every == 0:
            yield count
    yield count


def rebuild(state: IntakeState) -> int:
    """``rebuilding`` in one go; returns the number of cases read."""
    return deque(rebuilding(state, every=1 << 30), maxlen=1)[0]
