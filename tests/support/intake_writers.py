"""Intake's two writers without a broker, composed as main.py composes them: the matcher and
the case writers, each a processor over tables that outlive it (the local store) with its
journal on disk, their publishers from stream.py, and the records between them delivered in
order (the case writers' topic by partition, the control topic). What reaches
ipcoord.cases.v1 and the replies topic is kept for the test."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import MutableMapping
from pathlib import Path

import pytest
from ipcoord.intake.domain import Rules
from ipcoord.intake.keys import partition_of
from ipcoord.intake.processor import CaseLogic, MatcherLogic
from ipcoord.intake.state import DERIVED_INDEXES, IntakeState
from ipcoord.intake.state_codecs import CASEWORK_CODECS, MATCHER_CODECS
from ipcoord.intake.stream import case_writer_publisher, matcher_publisher
from ipcoord.platform import codec
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.journal import Journal, Source
from ipcoord.platform.processor import Processor
from ipcoord.platform.read_cache import ReadCache
from ipcoord.platform.staged import Discarding, Stage
from ipcoord.platform.topics import INTAKE_CASEWORK

from support.stores import StoredTable

RULES = Rules(bureaus=BureauRegistry.demo())
SUBMISSIONS = "ipcoord.intake.submissions.v1"
CONTROL = "ipcoord.intake.control.v1"
CASEWORK = "ipcoord.intake.casework.v1"


class PartitionedTable(MutableMapping):
    """A case writers' table as Faust's rocksdb store keeps it: one store per partition; a
    write goes to the partition of the record being handled (there must be one) and a read of
    a key inside it reads that partition; outside a record (a lookup) every partition is read.
    Iterating reads every partition. ``partitions``: partition -> {key: encoded value}, kept
    by the test."""

    def __init__(self, name: str, partitions: dict, codecs: dict, current: list) -> None:
        self._name, self._partitions, self._codecs = name, partitions, codecs
        self._current = current  # [partition of the record being handled, or None]

    def _table(self, partition: int) -> StoredTable:
        return StoredTable(self._name, self._partitions.setdefault(partition, {}), self._codecs)

    def _visible(self) -> list[StoredTable]:
        if self._current[0] is not None:
            return [self._table(self._current[0])]
        return [self._table(p) for p in sorted(self._partitions)]

    def __getitem__(self, key):
        for table in self._visible():
            if key in table.stored:
                return table[key]
        raise KeyError(key)

    def __setitem__(self, key, value):
        assert self._current[0] is not None, "a write outside a record (Faust refuses it)"
        self._table(self._current[0])[key] = value

    def __delitem__(self, key):
        assert self._current[0] is not None, "a write outside a record (Faust refuses it)"
        del self._table(self._current[0])[key]

    def __iter__(self):
        every = [self._table(p) for p in sorted(self._partitions)]
        return iter(dict.fromkeys(k for t in every for k in t.stored))

    def __len__(self):
        return sum(1 for _ in self)


def _state(tables: dict, codecs: dict, current: list | None = None) -> tuple[IntakeState, Stage]:
    """``current``: the case writers' tables are partitioned (PartitionedTable); None: the
    matcher's, one partition."""
    stage = Stage()

    def holder(name: str):
        if name in DERIVED_INDEXES:
            return {}  # the replica's own, in memory
        if name not in codecs:
            return Discarding()  # the other writer keeps it
        if current is None:
            stored = StoredTable(name, tables.setdefault(name, {}), codecs)
            return ReadCache(stored, max_entries=100)
        table = PartitionedTable(name, tables.setdefault(name, {}), codecs, current)
        # A copy per partition: read uncached (main.py).
        return table if name == "identities" else ReadCache(table, max_entries=100)

    state = IntakeState(
        **{f.name: stage.wrap(f.name, holder(f.name)) for f in dataclasses.fields(IntakeState)}
    )
    return state, stage


def _done() -> asyncio.Future:
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


class IntakeWriters:
    """``tables``: {"matcher": {table: {key: value}}, "casework": {table: {partition: {key:
    value}}}}, kept by the test across restarts; ``journals``: their directory (None: in
    memory)."""

    def __init__(self, tables: dict, journals: Path | None, fail_stop=pytest.fail) -> None:
        self.tables = tables
        self.published: list[codec.Envelope] = []  # ipcoord.cases.v1
        self.replies: list[tuple[str, object]] = []
        self._pending: list[tuple[str, int, codec.Envelope, str | None]] = []
        self.delivered: list[tuple[str, int, codec.Envelope]] = []  # (topic, partition, record)
        self._held: set[int] = set()
        self._offsets: dict[tuple[str, int], int] = defaultdict(int)
        matcher_state, matcher_stage = _state(tables.setdefault("matcher", {}), MATCHER_CODECS)
        self._partition: list[int | None] = [None]  # of the case writers' record handled
        case_state, case_stage = _state(
            tables.setdefault("casework", {}), CASEWORK_CODECS, self._partition
        )
        self.matcher_state, self.state = matcher_state, case_state
        self.journals = (  # None: in memory (benchmarks)
            Journal(journals and journals / "journal"),
            Journal(journals and journals / "casework-journal"),
        )
        self.matcher = Processor(
            matcher_state,
            matcher_stage,
            self.journals[0],
            MatcherLogic(RULES),
            matcher_publisher(self._publish, self._send(CASEWORK)),
            self._reply,
            fail_stop=fail_stop,
        )
        self.case_writer = Processor(
            case_state,
            case_stage,
            self.journals[1],
            CaseLogic(RULES),
            case_writer_publisher(self._publish, self._send(CONTROL)),
            self._reply,
            fail_stop=fail_stop,
        )

    async def _publish(self, key, env, traceparent=None):
        self.published.append(env)
        return _done()

    def _send(self, topic: str):
        async def send(env, traceparent=None, *, partition=None, reply_to=None):
            if partition is None:
                count = INTAKE_CASEWORK.partitions if topic == CASEWORK else 1
                partition = partition_of(env.subject_key, count)
            self._pending.append((topic, partition, env, reply_to))
            return _done()

        return send

    async def _reply(self, replica, reply):
        self.replies.append((replica, reply))

    async def submit(
        self, env: codec.Envelope, offset: int, reply_to: str | None = None, *, settle=True
    ):
        """A record of the submissions topic at ``offset``, and all it leads to (``settle``
        False: without waiting for the replies, for benchmarks)."""
        await self.matcher.handle(env, Source(SUBMISSIONS, 0, offset), reply_to=reply_to)
        await self.deliver(settle=settle)

    async def to_case_writers(
        self, env: codec.Envelope, *, partition: int | None = None, reply_to: str | None = None
    ) -> None:
        """A record of the case writers' topic (what the gRPC edge or a clock sends), and all
        it leads to."""
        await self._send(CASEWORK)(env, partition=partition, reply_to=reply_to)
        await self.deliver()

    def hold(self, partition: int) -> None:
        """The case writer of ``partition`` falls behind: its records wait (``release``)."""
        self._held.add(partition)

    async def release(self, partition: int, count: int) -> None:
        """The ``count`` oldest records waiting for a held partition's writer, handled."""
        self._held.discard(partition)
        waiting = [r for r in self._pending if r[0] == CASEWORK and r[1] == partition]
        later = waiting[count:]
        self._pending = [r for r in self._pending if r not in later]
        await self.deliver()
        self._pending += later
        self._held.add(partition)

    async def deliver(self, *, settle: bool = True) -> None:
        """Every record the writers sent each other, in order, until none is left (but those
        of a held partition)."""
        while ready := [r for r in self._pending if not (r[0] == CASEWORK and r[1] in self._held)]:
            self._pending.remove(ready[0])
            topic, partition, env, reply_to = ready[0]
            self.delivered.append((topic, partition, env))
            offset = self._offsets[(topic, partition)]
            self._offsets[(topic, partition)] += 1
            source = Source(topic, partition, offset)
            if topic == CONTROL:
                await self.matcher.handle(env, source, system=True, reply_to=reply_to)
            else:
                self._partition[0] = partition
                try:
                    await self.case_writer.handle(env, source, system=True, reply_to=reply_to)
                finally:
                    self._partition[0] = None
        if settle:
            await asyncio.sleep(0.01)  # replies go out once the facts are acknowledged

    def close(self, *, clean: bool) -> None:
        """Both journals, as the runner closes them (``clean`` False: a kill -9)."""
        for journal in self.journals:
            journal.close(clean=clean)

    def facts(self, since: int = 0) -> list[str]:
        return [e.event_type for e in self.published[since:]]
