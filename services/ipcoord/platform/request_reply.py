"""Request-reply over Kafka, so that a gRPC write is answered on any replica.

A replica that takes a gRPC command publishes it on the service's command topic with the
header ``ipcoord-reply-to: <its replica id>`` and waits. The single writer (whichever replica
owns the command's partition) decides it and, once the broker has acknowledged the command's
facts, publishes a ``CommandReply`` keyed by that replica id on the service's replies topic.
Every replica reads every partition of the replies topic (no consumer group: a reply is for
one replica, not for whoever is assigned a partition) and keeps the ones addressed to it.

The writer never waits for a reply to be read: a caller whose replica died takes its answer
from the log (the facts carry the command's event id as ``causation_id``).

A writer whose facts other writers apply (intake's matcher: the case writers apply the case
facts it decides) replies in parts: its own answer, and one acknowledgement from each writer
once it has applied them; the caller is answered when all came, so it reads what it wrote."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc
from aiokafka import AIOKafkaConsumer, TopicPartition
from google.protobuf.message import Message

from ipcoord.platform import codec, kafka_client
from ipcoord.platform.errors import from_refusal
from ipcoord.platform.failstop import fail_stop
from ipcoord.platform.grpc_errors import abort_with
from ipcoord.platform.settings import Settings
from ipcoord.platform.topics import TopicSpec, full_name
from ipcoord.v1 import replies_pb2

log = logging.getLogger(__name__)

HEADER_REPLY_TO = "ipcoord-reply-to"

CommandReply = replies_pb2.CommandReply


def _fail_stop_unless_cancelled(task: asyncio.Task) -> None:
    # Without its inbox a replica would time out every write while reporting SERVING.
    if not task.cancelled():
        fail_stop(task.exception() or RuntimeError("the reply inbox stopped"))


class CallerGone(TimeoutError):
    """No reply in time: the command is on the log and will still be decided."""


class ReplyInbox:
    """The replies addressed to this replica, matched to the calls waiting for them."""

    def __init__(self, settings: Settings, spec: TopicSpec) -> None:
        self.replica = settings.replica_id
        self._settings = settings
        self._topic = full_name(spec, settings.topic_prefix)
        self._partitions = spec.partitions
        self._waiting: dict[str, asyncio.Future[CommandReply]] = {}
        self._parts: dict[str, dict[int, CommandReply]] = {}  # of replies in parts
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Before the service answers any call: only replies to later commands matter."""
        consumer = AIOKafkaConsumer(
            **kafka_client.connection(self._settings), enable_auto_commit=False
        )
        await consumer.start()
        partitions = [TopicPartition(self._topic, p) for p in range(self._partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # resolve "end" now, not at the first fetch
        self._consumer = consumer
        self._task = asyncio.create_task(self._read(), name="reply-inbox")
        self._task.add_done_callback(_fail_stop_unless_cancelled)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    async def ask(
        self,
        send: Callable[[codec.Envelope, dict[str, str]], Awaitable[None]],
        command: codec.Envelope,
        timeout_s: float,
    ) -> CommandReply:
        """Publish ``command`` with this replica as its reply-to and wait for the writer."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[command.event_id] = future
        try:
            await send(command, {HEADER_REPLY_TO: self.replica})
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError as exc:
            raise CallerGone(
                f"no decision within {timeout_s}s; the command {command.event_id} is on the "
                f"log and will still be decided"
            ) from exc
        finally:
            self._waiting.pop(command.event_id, None)
            self._parts.pop(command.event_id, None)

    async def _read(self) -> None:
        assert self._consumer is not None
        async for record in self._consumer:
            if record.key != self.replica.encode():
                continue
            try:
                reply = CommandReply.FromString(record.value)
            except Exception:
                log.warning("undecodable reply", extra={"offset": record.offset})
                continue
            future = self._waiting.get(reply.command_event_id)
            if future is None or future.done():
                continue
            if reply.parts <= 1:
                future.set_result(reply)
                continue
            # A reply in parts: answered once every part came (a part repeated after a
            # redelivery counts once); part 0 is the writer's answer.
            parts = self._parts.setdefault(reply.command_event_id, {})
            parts[reply.part] = reply
            if len(parts) == reply.parts and 0 in parts:
                future.set_result(parts[0])


async def answered_by_writer(
    context: grpc.aio.ServicerContext,
    inbox: ReplyInbox,
    send: Callable[..., Awaitable[None]],
    command: codec.Envelope,
    answer_type: type[Message],
    timeout_s: float,
) -> Message:
    """A gRPC write: ``command`` to the writer through ``send`` (platform.sending's
    command_sender), and the writer's answer as the call's reply (a refusal as its status)."""
    traceparent = dict(context.invocation_metadata() or ()).get(codec.HEADER_TRACEPARENT)
    try:
        reply = await inbox.ask(
            lambda env, headers: send(env, traceparent, headers), command, timeout_s
        )
    except CallerGone as gone:
        # Not UNAVAILABLE: clients retry that blindly, and a retry is a new command. The
        # outcome is unknown; the facts on the log (causation_id) will tell.
        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, str(gone))
    if reply.HasField("refusal"):
        await abort_with(context, from_refusal(reply.refusal))
    result = answer_type()
    reply.result.Unpack(result)
    return result
