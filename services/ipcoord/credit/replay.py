"""Credit records' state rebuilt from the log alone: every fact of ipcoord.credit.v1 applied in
the order its partitions hold them, into fresh tables. `ipcoord replay credit` compares it
with the live tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ipcoord.credit.domain import Meta, evolve
from ipcoord.credit.state import CreditState
from ipcoord.credit.state_codecs import CODECS
from ipcoord.platform import codec
from ipcoord.platform.topics import CREDIT, CREDIT_COMMANDS, Service

SERVICE = Service.CREDIT
SOURCES = (CREDIT,)
STORED = CODECS
# Each table's partitions: those of the command topic its writer reads (main.py).
TABLE_PARTITIONS = {name: CREDIT_COMMANDS.partitions for name in STORED}


def rebuilt(facts: Iterable[codec.Envelope]) -> CreditState:
    state = CreditState()
    for env in facts:
        evolve(state, codec.body_of(env), Meta(env.event_id, codec.occurred_at(env)))
    return state


def rebuilt_tables(logs: Mapping[str, list[codec.Envelope]]) -> dict[str, Mapping]:
    state = rebuilt(logs[CREDIT.name])
    return {name: getattr(state, name) for name in STORED}
