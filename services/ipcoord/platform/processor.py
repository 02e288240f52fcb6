"""The application service of a single writer: one command at a time, decide -> journal ->
apply -> publish -> reply, idempotent by the command's event id, crash-safe through the journal.

Every service's processor is this one with its own ``ServiceLogic`` (how a command is read from
an envelope, decided, refused, applied, keyed and answered); intake's is intake/processor.py."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from google.protobuf.message import Message

from ipcoord.platform import codec, metrics
from ipcoord.platform.errors import DomainError, LimitReached, from_refusal, to_refusal
from ipcoord.platform.ids import derived_event_id
from ipcoord.platform.journal import Journal, Source
from ipcoord.platform.request_reply import CommandReply
from ipcoord.platform.staged import DELETED, Stage, Write
from ipcoord.platform.table_codec import TableCodec
from ipcoord.v1 import journal_pb2

# A stored value's changelog record must fit in a Kafka record (1 MB by default), with room
# for its key and headers.
MAX_STORED_VALUE = 900_000
log = logging.getLogger(__name__)

REBUILD_SLICE = 2_000  # values read between two turns of the event loop in a rebuild


class ServiceLogic(Protocol):
    """What a service tells the processor about its commands and facts."""

    service: str
    # The topic its facts go to (metrics label).
    facts_topic: str
    # Its stored tables' codecs: what the journal records (derived indexes have none).
    codecs: dict[str, TableCodec]

    def command_of(self, env: codec.Envelope, *, system: bool) -> Message | None:
        """The command inside ``env``; None for a relayed fact to apply as it is. Raises
        codec.InvalidEnvelope for a record that does not belong where it came from."""

    def decide(self, body: Message, env: codec.Envelope, state: Any) -> list[Message]:
        """The facts the command makes; a DomainError when it is refused."""

    def evolve(self, state: Any, event: Message, env: codec.Envelope) -> None:
        """Apply one fact; ``env`` is the fact's envelope (or the relayed record's)."""

    def rejection(self, env: codec.Envelope, body: Message, error: DomainError) -> Message:
        """The fact that tells a sender on Kafka why its command was refused."""

    def fact_key(self, event: Message, cause: codec.Envelope) -> str: ...

    def answer(
        self, env: codec.Envelope, facts: list[codec.Envelope], state: Any
    ) -> Message | None:
        """What a gRPC caller of this command gets back, built from the state after it."""

    def rebuild_indexes(self, state: Any, tables: Callable[[str], Any]) -> Iterator[int]:
        """Rebuild the derived indexes from the stored tables (``tables(name)``: the table
        itself, no stage), yielding the number of values read so far every REBUILD_SLICE."""

    # Optional, for a writer whose facts other writers apply (intake's matcher and case
    # writers), each looked up with getattr:
    #   carries_reply(fact) -> bool: the fact carries a part of the caller's reply on to the
    #     writer that applies it (published with the caller's reply address; this writer's
    #     own reply then says how many parts to wait for);
    #   reply_part(env) -> (command event id, part, parts) | None: this record is such a
    #     carrier, and the reply to it is that part of the other command's reply.
    # ``decide`` may also return a fact's envelope as it is, for a fact decided elsewhere.


class Processor:
    """Handles one decoded command. The journal makes it idempotent by event id and crash-safe:
    a command's facts and table writes are recorded in one atomic local write before the
    tables change; a redelivered command publishes its recorded facts again."""

    def __init__(
        self,
        state: Any,
        stage: Stage,
        journal: Journal,
        logic: ServiceLogic,
        publish,
        send_reply,
        fail_stop: Callable[[BaseException], None],
    ) -> None:
        self.state = state
        self._stage = stage
        self._journal = journal
        self._logic = logic
        # async (key, envelope, parent traceparent) -> awaitable of the broker's ack
        self._publish = publish
        # async (replica id, CommandReply) -> None: the answer for the replica a caller waits on
        self._send_reply = send_reply
        # Ends the process uncommitted: for failures that are not the command's fault (a fact
        # the broker refused for good, tables that cannot be read).
        self._fail_stop = fail_stop
        self._redone = journal.was_clean
        self._redone_partitions: set[int] = set()  # redo_partition's, for a partitioned writer
        # The derived indexes live in memory: rebuilt from the stored tables before the first
        # command or lookup after each assignment and after a redo.
        self._indexes_fresh = False
        self._tables_generation = 0  # counts the changes behind the processor's back
        self._rebuild_lock = asyncio.Lock()
        self._rebuilding: asyncio.Future | None = None
        self.commands_handled = 0  # since start (benchmarks and probes read it)

    def tables_changed(self) -> None:
        """The tables may have changed behind the processor's back (an assignment: another
        replica may have written them meanwhile, and recovery read its changes from the
        changelog): the read caches and the derived indexes go."""
        self._stage.forget_cached()
        self._indexes_fresh = False
        self._tables_generation += 1

    @property
    def indexes_ready(self) -> bool:
        return self._indexes_fresh

    def start_rebuilding(self) -> None:
        """Rebuild the derived indexes in the background if they are stale (a lookup asks:
        it is answered UNAVAILABLE meanwhile rather than from half-built indexes)."""
        if self._indexes_fresh or (self._rebuilding and not self._rebuilding.done()):
            return
        self._rebuilding = asyncio.ensure_future(self.ensure_indexes())
        self._rebuilding.add_done_callback(_log_rebuild_failure)

    async def ensure_indexes(self) -> None:
        """Rebuild the derived indexes from the stored tables if they may be stale (80,000
        intake cases take about 4 s here), a slice at a time so that the loop (gRPC, the Kafka
        clients' callbacks) keeps running; commands wait for it. Started again if the tables
        change meanwhile."""
        async with self._rebuild_lock:
            while not self._indexes_fresh:
                generation, started, read = self._tables_generation, time.perf_counter(), 0
                # The last count read is logged (B007: the loop variable is used after it).
                for read in self._logic.rebuild_indexes(self.state, self._stage.table):  # noqa: B007
                    await asyncio.sleep(0)
                self._indexes_fresh = generation == self._tables_generation
                settled = settle_heap()
                log.info(
                    "derived indexes rebuilt",
                    extra={
                        "service": self._logic.service,
                        "values": read,
                        "seconds": round(time.perf_counter() - started, 3),
                        "gc_seconds": round(settled, 3),
                    },
                )

    def redo_uncommitted(self, committed: dict[tuple[str, int], int]) -> int:
        """After an unclean stop, before the first command: apply again, in order, every entry
        from the first command whose offset was not committed on. Returns how many."""
        count = 0
        for entry in self._journal.uncommitted(committed):
            record = journal_pb2.JournalEntry.FromString(entry.payload)
            self._stage.apply(_writes(record, self._logic.codecs))
            count += 1
        self._redone = True
        self.tables_changed()  # the cases changed: the indexes and cached values go
        log.info("journal entries applied again after an unclean stop", extra={"count": count})
        return count

    def redo_partition(self, topic: str, partition: int, committed: int) -> int:
        """The redo for one input partition (a writer whose tables are partitioned like its
        input): its entries from ``committed`` on, applied again in order, inside an event of
        that partition, so their changelog records go to its partition. Returns how many."""
        count = 0
        for entry in self._journal.uncommitted_of(topic, partition, committed):
            record = journal_pb2.JournalEntry.FromString(entry.payload)
            self._stage.apply(_writes(record, self._logic.codecs))
            count += 1
        self._redone_partitions.add(partition)
        self.tables_changed()
        log.info(
            "journal entries applied again after an unclean stop",
            extra={"topic": topic, "partition": partition, "count": count},
        )
        return count

    def settle_without_redo(self, topic: str, partition: int, committed: int) -> bool:
        """After an unclean stop: a partition whose journal holds nothing from ``committed``
        on needs no redo, and is marked so at once. One that does holds commands past the
        commit, which the partition reads again: the redo comes with the first of them
        (``redo_partition``). Returns whether it was settled here."""
        if next(iter(self._journal.uncommitted_of(topic, partition, committed)), None):
            return False
        self._redone_partitions.add(partition)
        return True

    @property
    def was_clean(self) -> bool:
        """Whether the last stop was clean (nothing to apply again)."""
        return self._journal.was_clean

    @property
    def needs_redo(self) -> bool:
        return not self._redone

    def needs_redo_of(self, partition: int) -> bool:
        """Whether ``partition``'s redo after an unclean stop (``redo_partition``) is still to
        come: until then its tables may lack what the crash rolled back."""
        return not self._journal.was_clean and partition not in self._redone_partitions

    def answers_lookups(self) -> bool:
        """Whether lookups may read the state now: the derived indexes are current. After an
        assignment they are rebuilt in the background first (lookups are told UNAVAILABLE or
        forwarded meanwhile, never answered from half-built indexes)."""
        self.start_rebuilding()
        return self._indexes_fresh

    async def handle(
        self,
        env: codec.Envelope,
        source: Source,
        traceparent: str | None = None,
        *,
        system: bool = False,
        reply_to: str | None = None,
    ) -> None:
        """``source``: the command's record; ``traceparent``: its trace context, so the facts
        continue the caller's trace; ``system``: it came from the service's own topic;
        ``reply_to``: the replica a gRPC caller waits on."""
        if not self._indexes_fresh:
            try:
                await self.ensure_indexes()
            except Exception as exc:
                # The tables, not this command: stop uncommitted (dead-lettering it would lose
                # it, and the next command would meet the same failure).
                self._fail_stop(exc)
                raise
        done = self._journal.get(env.event_id)
        if done is not None:
            # Redelivered after a crash or rebalance (or sent again by its sender): its effects
            # are in the tables already (applied again at start if need be); its facts may not
            # have reached the broker.
            record = journal_pb2.JournalEntry.FromString(done.payload)
            if done.source != source and record.digest != _body_digest(env):
                raise codec.InvalidEnvelope(
                    f"event id {env.event_id} was already used by a different command (at "
                    f"{done.source.topic}[{done.source.partition}]@{done.source.offset}); "
                    f"every command needs an event id of its own",
                    "DuplicateEventId",
                )
            error = from_refusal(record.refused) if record.HasField("refused") else None
            facts = list(record.facts)
            acks = await self._send(facts, traceparent, reply_to)
            self._reply_when_acked(reply_to, env, facts, error, acks)
            self.commands_handled += 1
            return
        try:
            facts, error = self._decide_or_relay(env, system)
            writes = self._stage.take()
            stored = [
                _table_write(write, self._logic.codecs)
                for write in writes
                if write[0] in self._logic.codecs
            ]
            if any(len(w.value) > MAX_STORED_VALUE for w in stored):
                facts, error = self._refuse_oversized(env, system, stored)
                writes, stored = [], []
            record = journal_pb2.JournalEntry(
                digest=_body_digest(env),
                facts=facts,
                refused=to_refusal(error) if error else None,
                writes=stored,
            )
            self._journal.append(env.event_id, source, record.SerializeToString())
        except BaseException:
            # A bug met half-way, or the journal failing: nothing of this command may leak
            # into the next one (values changed in place included).
            self._stage.discard()
            raise
        self._stage.apply(writes)
        acks = await self._send(facts, traceparent, reply_to)
        self._reply_when_acked(reply_to, env, facts, error, acks)
        self.commands_handled += 1

    def _refuse_oversized(
        self, env: codec.Envelope, system: bool, stored: list[journal_pb2.TableWrite]
    ) -> tuple[list[codec.Envelope], DomainError]:
        """A command that would make a stored value too big for a Kafka record (its changelog
        record would be refused, and the writer would stop there for good) is refused instead;
        what evolve changed in memory goes (caches, derived indexes)."""
        biggest = max(stored, key=lambda w: len(w.value))
        error = LimitReached(
            f"refused: it would make {biggest.table}[{biggest.key[:100]!r}] "
            f"{len(biggest.value)} bytes, over the {MAX_STORED_VALUE} a stored value may have"
        )
        self.tables_changed()
        body = self._logic.command_of(env, system=system)
        return [self._wrap(self._logic.rejection(env, body, error), env, 0)], error

    def _decide_or_relay(
        self, env: codec.Envelope, system: bool
    ) -> tuple[list[codec.Envelope], DomainError | None]:
        logic = self._logic
        body = logic.command_of(env, system=system)
        if body is None:  # a relayed fact: applied as it is, nothing to decide
            logic.evolve(self.state, codec.body_of(env), env)
            return [], None
        try:
            events, error = logic.decide(body, env, self.state), None
        except DomainError as refusal:
            events, error = [logic.rejection(env, body, refusal)], refusal
        # A fact decided elsewhere comes as its envelope (intake's case writers publish the
        # matcher's facts as it made them); every other is wrapped here.
        facts = [
            event if isinstance(event, codec.Envelope) else self._wrap(event, env, position)
            for position, event in enumerate(events)
        ]
        if error is None:
            for out in facts:
                logic.evolve(self.state, codec.body_of(out), out)
        return facts, error

    def _wrap(self, event: Message, cause: codec.Envelope, position: int) -> codec.Envelope:
        return codec.envelope(
            event,
            producer_bureau=cause.producer_bureau,
            subject_key=self._logic.fact_key(event, cause),
            correlation_id=cause.correlation_id or cause.event_id,
            causation_id=cause.event_id,
            occurred_at=codec.occurred_at(cause),
            # A function of the command: handled again, it publishes the same ids.
            event_id=derived_event_id(cause.event_id, position),
        )

    def _carries_reply(self, fact: codec.Envelope) -> bool:
        """Whether the fact carries a part of the caller's reply on to another writer, which
        sends it once it has applied what precedes (intake's matcher hands case facts to the
        case writers); the caller is answered when every part came."""
        carries = getattr(self._logic, "carries_reply", None)
        return carries is not None and carries(fact)

    async def _send(
        self, facts: list[codec.Envelope], traceparent: str | None, reply_to: str | None = None
    ) -> list[asyncio.Future]:
        acks = []
        for out in facts:
            if reply_to and self._carries_reply(out):
                ack = await self._publish(out.subject_key, out, traceparent, reply_to=reply_to)
            else:
                ack = await self._publish(out.subject_key, out, traceparent)
            # Faust flushes the producer before it commits the command's offset, so the facts
            # are durable before the command counts as done. A fact the broker refused for good
            # ends the process uncommitted (platform.failstop): the command is redelivered and
            # its recorded facts are published again.
            ack.add_done_callback(self._check_ack)
            acks.append(ack)
            logic = self._logic
            metrics.EVENTS_PRODUCED.labels(logic.service, logic.facts_topic, out.event_type).inc()
        return acks

    def _reply_when_acked(
        self,
        reply_to: str | None,
        env: codec.Envelope,
        facts: list[codec.Envelope],
        error: DomainError | None,
        acks: list[asyncio.Future],
    ) -> None:
        """Answer a waiting caller once the broker has the command's facts, without holding
        up the next command. The answer is built now, from the state right after the command
        (on a redelivery: the current state, which may hold later changes)."""
        if not reply_to:
            return
        reply = CommandReply(command_event_id=env.event_id, facts=facts)
        part_of = getattr(self._logic, "reply_part", None)
        barrier = part_of(env) if part_of is not None else None
        if barrier is not None:  # a part of another writer's reply (_carries_reply)
            reply.command_event_id, reply.part, reply.parts = barrier
        elif parts := sum(map(self._carries_reply, facts)):
            reply.parts = 1 + parts
        if error is not None:
            reply.refusal.CopyFrom(to_refusal(error))
        else:
            try:
                result = self._logic.answer(env, facts, self.state)
            except Exception:
                # The command took effect; only its answer failed. The caller times out and
                # finds the outcome on the log; the record must not be dead-lettered.
                log.exception("answer not built", extra={"command": env.event_id})
                return
            if result is not None:
                reply.result.Pack(result)

        async def send_after_acks() -> None:
            await asyncio.gather(*acks)
            await self._send_reply(reply_to, reply)

        task = asyncio.ensure_future(send_after_acks())
        task.add_done_callback(_log_reply_failure)

    def _check_ack(self, ack: asyncio.Future) -> None:
        if ack.cancelled():
            self._fail_stop(asyncio.CancelledError("fact publication cancelled"))
        elif ack.exception() is not None:
            self._fail_stop(ack.exception())


def _table_write(write: Write, codecs: dict[str, TableCodec]) -> journal_pb2.TableWrite:
    """A table write as the journal keeps it: the value in the table's own encoding. Only
    stored tables are journaled; the derived indexes are rebuilt after a redo."""
    name, key, value = write
    if value is DELETED:
        return journal_pb2.TableWrite(table=name, key=key, deleted=True)
    return journal_pb2.TableWrite(table=name, key=key, value=codecs[name].encode(value))


def _writes(record: journal_pb2.JournalEntry, codecs: dict[str, TableCodec]) -> list[Write]:
    # Entries written before an index became derived may still name it: skipped.
    return [
        (w.table, w.key, DELETED if w.deleted else codecs[w.table].decode(w.value))
        for w in record.writes
        if w.table in codecs
    ]


def _body_digest(env: codec.Envelope) -> str:
    """What tells a command sent again from another command under a reused event id."""
    body = codec.body_of(env).SerializeToString(deterministic=True)
    return hashlib.sha256(f"{env.producer_bureau}\n".encode() + body).hexdigest()


def _log_reply_failure(task: asyncio.Future) -> None:
    # The caller then times out and is told its command is on the log: nothing is lost.
    if not task.cancelled() and task.exception() is not None:
        log.warning("reply not sent", exc_info=task.exception())


def settle_heap() -> float:
    """Keep the garbage collector away from what the rebuild made: the derived indexes are
    millions of objects that live until the next assignment, and Python's full collection
    walks every tracked object (566 ms for credit's 100,000 listings, measured). Frozen objects
    are never walked again, and still freed when nothing refers to them; only a reference cycle
    among them would be kept, and the indexes make none. Cheap (no collection runs here).
    Returns the seconds spent."""
    started = time.perf_counter()
    gc.freeze()
    return time.perf_counter() - started


def _log_rebuild_failure(task: asyncio.Future) -> None:
    # A rebalance can close the table under the rebuild; the next lookup or command retries.
    if not task.cancelled() and task.exception() is not None:
        log.warning("derived indexes not rebuilt", exc_info=task.exception())
