"""Intake's state rebuilt from the log alone, into fresh tables: every fact of ipcoord.cases.v1
in the order its partitions hold them (facts about different keys commute,
domain/__init__.py), and the credit listings intake relayed to itself on its control topic
(what it knows of who is listed). `ipcoord replay intake` compares it with the live tables of
both writers: the matcher's (each case's summary, with the references, identities, actions,
targets and listings) and the case writers' (the whole cases, their references, the
identities every partition keeps a copy of, the deadlines watched), which are two readings of
the one state the log gives."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ipcoord.intake.domain import Meta, evolve
from ipcoord.intake.processor import RELAYED
from ipcoord.intake.state import IntakeState
from ipcoord.intake.state_codecs import CASEWORK_CODECS, CASEWORK_TABLE_PREFIX, MATCHER_CODECS
from ipcoord.platform import codec
from ipcoord.platform.topics import (
    CASES,
    INTAKE_CASEWORK,
    INTAKE_CONTROL,
    INTAKE_SUBMISSIONS,
    Service,
)

SERVICE = Service.INTAKE
SOURCES = (CASES, INTAKE_CONTROL)
# Each Faust table of intake -> its codec.
STORED = MATCHER_CODECS | {
    f"{CASEWORK_TABLE_PREFIX}{name}": c for name, c in CASEWORK_CODECS.items()
}
# Each table's partitions: those of the topic its writer reads (main.py).
TABLE_PARTITIONS = {name: INTAKE_SUBMISSIONS.partitions for name in MATCHER_CODECS} | {
    f"{CASEWORK_TABLE_PREFIX}{name}": INTAKE_CASEWORK.partitions for name in CASEWORK_CODECS
}


# The case writers' table that every partition keeps a copy of: compared partition by
# partition (<partition>/<key>).
PER_PARTITION = frozenset({f"{CASEWORK_TABLE_PREFIX}identities"})


def rebuilt(facts: Iterable[codec.Envelope]) -> IntakeState:
    state = IntakeState()
    for env in facts:
        meta = Meta(env.event_id, codec.occurred_at(env), env.producer_bureau)
        evolve(state, codec.body_of(env), meta)
    return state


def rebuilt_tables(logs: Mapping[str, list[codec.Envelope]]) -> dict[str, Mapping]:
    # After the case facts rather than interleaved as they were read: a listing changes only
    # who is listed, which no case fact's evolve reads (it mattered when filing was decided).
    relayed = [e for e in logs[INTAKE_CONTROL.name] if isinstance(codec.body_of(e), RELAYED)]
    state = rebuilt(logs[CASES.name] + relayed)
    tables = {name: getattr(state, name) for name in MATCHER_CODECS} | {
        f"{CASEWORK_TABLE_PREFIX}{name}": getattr(state, name) for name in CASEWORK_CODECS
    }
    for name in PER_PARTITION:
        tables[name] = {
            f"{partition}/{key}": value
            for partition in range(INTAKE_CASEWORK.partitions)
            for key, value in tables[name].items()
        }
    return tables
