"""The application service of intake: one command at a time, decide -> journal -> apply ->
publish, idempotent by the command's event id, crash-safe through the journal."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Iterable

from google.protobuf.message import Message

from ipcoord.intake.answers import answer
from ipcoord.intake.domain import Command, Meta, Rules, decide, evolve, indexes
from ipcoord.intake.keys import fact_key
from ipcoord.intake.state import DERIVED_INDEXES, IntakeState
from ipcoord.intake.state_codecs import CODECS
from ipcoord.platform import codec, metrics
from ipcoord.platform.errors import DomainError, InvalidInput, Violation, from_refusal, to_refusal
from ipcoord.platform.ids import derived_event_id
from ipcoord.platform.journal import Journal, Source
from ipcoord.platform.request_reply import CommandReply
from ipcoord.platform.staged import DELETED, Stage, Write
from ipcoord.v1 import credit_pb2, intake_pb2, journal_pb2

log = logging.getLogger(__name__)

SERVICE = "intake"
_REBUILD_SLICE = 2_000  # cases indexed between two turns of the event loop
# Listings from credit, relayed onto intake's control topic (they decide fast-track).
RELAYED = (credit_pb2.SeriousDishonestyListed, credit_pb2.ListingRemoved)
# Commands only intake itself gives; refused from anyone else's topic.
SYSTEM_COMMANDS = frozenset({"check_deadlines"})


def command_of(env: codec.Envelope, *, system: bool) -> Message | None:
    """The command inside an envelope; None for a relayed listing. ``system``: the record came
    from intake's own control topic, the only place its clock and relayed listings may come
    from (a bureau system could otherwise escalate every watched case by sending a tick)."""
    body = codec.body_of(env)
    if isinstance(body, intake_pb2.IntakeCommand):
        which = body.WhichOneof("command")
        if which is None:
            raise codec.InvalidEnvelope("IntakeCommand has no command set", "ValidationError")
        if (which in SYSTEM_COMMANDS) != system:
            raise _misplaced(env, system)
        return getattr(body, which)
    if isinstance(body, intake_pb2.ReportSubmitted) and not system:
        return body
    if isinstance(body, RELAYED) and system:
        return None
    raise _misplaced(env, system)


def _misplaced(env: codec.Envelope, system: bool) -> codec.InvalidEnvelope:
    if system:
        return codec.InvalidEnvelope(
            f"{env.event_type} does not belong on intake's control topic", "UnexpectedEventType"
        )
    return codec.InvalidEnvelope(
        f"{env.event_type} comes only from the intake service itself (its clock, or the "
        f"listings it relays from credit); it is refused from the submissions topic "
        f"(declared producer {env.producer_bureau!r})",
        "ForbiddenSystemCommand",
    )


class IntakeProcessor:
    """Handles one decoded command. The journal makes it idempotent by event id and crash-safe:
    a command's facts and table writes are recorded in one atomic local write before the
    tables change; a redelivered command publishes its recorded facts again."""

    def __init__(
        self,
        state: IntakeState,
        stage: Stage,
        journal: Journal,
        rules: Rules,
        publish,
        send_reply,
        fail_stop: Callable[[BaseException], None],
    ) -> None:
        self.state = state
        self._stage = stage
        self._journal = journal
        self._rules = rules
        # async (key, envelope, parent traceparent) -> awaitable of the broker's ack
        self._publish = publish
        # async (replica id, CommandReply) -> None: the answer for the replica a caller waits on
        self._send_reply = send_reply
        # Ends the process uncommitted: for failures that are not the command's fault (a fact
        # the broker refused for good, tables that cannot be read).
        self._fail_stop = fail_stop
        self._redone = journal.was_clean
        # The derived indexes (domain/indexes.py) live in memory: rebuilt from the cases
        # before the first command or lookup after each assignment and after a redo.
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
        """Rebuild the derived indexes from the cases table if they may be stale. Reads every
        case (80,000 in about 4 s here), a slice at a time so that the loop (gRPC, the Kafka
        clients' callbacks) keeps running; commands wait for it. Started again if the tables
        change meanwhile."""
        async with self._rebuild_lock:
            while not self._indexes_fresh:
                generation, started = self._tables_generation, time.perf_counter()
                derived = {name: self._stage.table(name) for name in DERIVED_INDEXES}
                tables = dataclasses.replace(self.state, **derived)
                indexes.clear(tables)
                count = 0
                for case in self._stage.table("cases").values():
                    indexes.add_case(tables, case)
                    count += 1
                    if count % _REBUILD_SLICE == 0:
                        await asyncio.sleep(0)
                self._indexes_fresh = generation == self._tables_generation
                log.info(
                    "derived indexes rebuilt from the cases",
                    extra={"cases": count, "seconds": round(time.perf_counter() - started, 3)},
                )

    def redo_uncommitted(self, committed: dict[tuple[str, int], int]) -> int:
        """After an unclean stop, before the first command: apply again, in order, every entry
        from the first command whose offset was not committed on. Returns how many."""
        count = 0
        for entry in self._journal.uncommitted(committed):
            self._stage.apply(_writes(journal_pb2.JournalEntry.FromString(entry.payload)))
            count += 1
        self._redone = True
        self.tables_changed()  # the cases changed: the indexes and cached values go
        log.info("journal entries applied again after an unclean stop", extra={"count": count})
        return count

    @property
    def needs_redo(self) -> bool:
        return not self._redone

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
        continue the caller's trace; ``system``: it came from intake's own control topic;
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
            acks = await self._send(facts, traceparent)
            self._reply_when_acked(reply_to, env, facts, error, acks)
            self.commands_handled += 1
            return
        try:
            facts, error = self._decide_or_relay(env, system)
            writes = self._stage.take()
            record = journal_pb2.JournalEntry(
                digest=_body_digest(env),
                facts=facts,
                refused=to_refusal(error) if error else None,
                writes=[_table_write(write) for write in writes if write[0] in CODECS],
            )
            self._journal.append(env.event_id, source, record.SerializeToString())
        except BaseException:
            # A bug met half-way, or the journal failing: nothing of this command may leak
            # into the next one (values changed in place included).
            self._stage.discard()
            raise
        self._stage.apply(writes)
        acks = await self._send(facts, traceparent)
        self._reply_when_acked(reply_to, env, facts, error, acks)
        self.commands_handled += 1

    def _decide_or_relay(
        self, env: codec.Envelope, system: bool
    ) -> tuple[list[codec.Envelope], DomainError | None]:
        body = command_of(env, system=system)
        if body is None:  # a relayed listing: a fact to apply, nothing to decide
            meta = Meta(env.event_id, codec.occurred_at(env), env.producer_bureau)
            evolve(self.state, codec.body_of(env), meta)
            return [], None
        command = Command(body, env.producer_bureau, env.event_id, codec.occurred_at(env))
        try:
            events, error = decide(command, self.state, self._rules), None
        except DomainError as refusal:
            events, error = [self._rejection(env, body, refusal)], refusal
        facts = [self._wrap(event, env, position) for position, event in enumerate(events)]
        if error is None:
            for out, event in zip(facts, events, strict=True):
                meta = Meta(out.event_id, codec.occurred_at(out), env.producer_bureau)
                evolve(self.state, event, meta)
        return facts, error

    @staticmethod
    def _wrap(event: Message, cause: codec.Envelope, position: int) -> codec.Envelope:
        return codec.envelope(
            event,
            producer_bureau=cause.producer_bureau,
            subject_key=fact_key(event, cause),
            correlation_id=cause.correlation_id or cause.event_id,
            causation_id=cause.event_id,
            occurred_at=codec.occurred_at(cause),
            # A function of the command: handled again, it publishes the same ids.
            event_id=derived_event_id(cause.event_id, position),
        )

    async def _send(
        self, facts: Iterable[codec.Envelope], traceparent: str | None
    ) -> list[asyncio.Future]:
        acks = []
        for out in facts:
            ack = await self._publish(out.subject_key, out, traceparent)
            # Faust flushes the producer before it commits the command's offset, so the facts
            # are durable before the command counts as done. A fact the broker refused for good
            # ends the process uncommitted (platform.failstop): the command is redelivered and
            # its recorded facts are published again.
            ack.add_done_callback(self._check_ack)
            acks.append(ack)
            metrics.EVENTS_PRODUCED.labels(SERVICE, "cases", out.event_type).inc()
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
        if error is not None:
            reply.refusal.CopyFrom(to_refusal(error))
        else:
            try:
                command = command_of(env, system=False)
                result = answer(command, env.producer_bureau, facts, self.state)
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

    @staticmethod
    def _rejection(env: codec.Envelope, body: Message, error: DomainError) -> Message:
        if isinstance(body, intake_pb2.ReportSubmitted):
            # Invalid, or a different report under a reference already used: the bureau reads
            # why from the rejection keyed by its own reference.
            violations = (
                error.violations
                if isinstance(error, InvalidInput)
                else [Violation("external_ref", error.reason)]
            )
            return intake_pb2.SubmissionRejected(
                submitting_bureau=env.producer_bureau,
                external_ref=body.external_ref,
                submission_event_id=env.event_id,
                code=error.code,
                violations=[
                    intake_pb2.FieldViolation(field=v.field, description=v.description)
                    for v in violations
                ],
            )
        return intake_pb2.CaseCommandRejected(
            subject_id=getattr(body, "case_id", "") or getattr(body, "action_id", ""),
            command=type(body).__name__,
            reason=error.reason,
            code=error.code,
            actor_bureau=env.producer_bureau,
        )


def _table_write(write: Write) -> journal_pb2.TableWrite:
    """A table write as the journal keeps it: the value in the table's own encoding. Only
    stored tables are journaled; the derived indexes are rebuilt after a redo."""
    name, key, value = write
    if value is DELETED:
        return journal_pb2.TableWrite(table=name, key=key, deleted=True)
    return journal_pb2.TableWrite(table=name, key=key, value=CODECS[name].encode(value))


def _writes(record: journal_pb2.JournalEntry) -> list[Write]:
    # Entries written before an index became derived may still name it: skipped.
    return [
        (w.table, w.key, DELETED if w.deleted else CODECS[w.table].decode(w.value))
        for w in record.writes
        if w.table in CODECS
    ]


def _body_digest(env: codec.Envelope) -> str:
    """What tells a command sent again from another command under a reused event id."""
    body = codec.body_of(env).SerializeToString(deterministic=True)
    return hashlib.sha256(f"{env.producer_bureau}\n".encode() + body).hexdigest()


def _log_reply_failure(task: asyncio.Future) -> None:
    # The caller then times out and is told its command is on the log: nothing is lost.
    if not task.cancelled() and task.exception() is not None:
        log.warning("reply not sent", exc_info=task.exception())


def _log_rebuild_failure(task: asyncio.Future) -> None:
    # A rebalance can close the table under the rebuild; the next lookup or command retries.
    if not task.cancelled() and task.exception() is not None:
        log.warning("derived indexes not rebuilt", exc_info=task.exception())
