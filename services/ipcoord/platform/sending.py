"""Putting envelopes on Kafka from a Faust app: a service's facts, commands for its single
writer, and the writer's replies to the replica a gRPC caller waits on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import faust

from ipcoord.platform import codec
from ipcoord.platform.failstop import fail_stop


def fact_publisher(topic: faust.TopicT):
    """(key, fact envelope, parent traceparent) -> the broker's ack, to await or not."""

    async def publish(key: str, env: codec.Envelope, traceparent: str | None = None):
        return await topic.send(
            key=key.encode(),
            value=codec.encode(env),
            headers=codec.headers(env, parent_traceparent=traceparent),
        )

    return publish


def command_sender(topic: faust.TopicT, *, wait: bool = True) -> Callable[..., Awaitable[None]]:
    """Puts a command on ``topic`` and returns once the broker has it; with ``wait`` False,
    once it is handed to the producer (for a relay inside a Faust agent: Faust flushes the
    producer before it commits the record's offset, and a send the broker refuses for good
    stops the process uncommitted, so the record is read again)."""

    async def send(
        env: codec.Envelope,
        traceparent: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        headers = codec.headers(env, parent_traceparent=traceparent)
        headers += [(k, v.encode()) for k, v in (extra_headers or {}).items()]
        ack = await topic.send(
            key=env.subject_key.encode(), value=codec.encode(env), headers=headers
        )
        if wait:
            await ack
        else:
            ack.add_done_callback(fail_stop_if_refused)

    return send


def fail_stop_if_refused(ack) -> None:
    """For a send not waited for: a send the broker refused for good stops the process before
    the offset of the record it came from is committed (so the record is read again)."""
    if ack.cancelled():
        fail_stop(RuntimeError("a relayed command's send was cancelled"))
    elif ack.exception() is not None:
        fail_stop(ack.exception())


def reply_sender(topic: faust.TopicT):
    """(replica id, CommandReply) -> sent, keyed by the replica that waits for it."""

    async def send(replica: str, reply) -> None:
        await topic.send(key=replica.encode(), value=reply.SerializeToString())

    return send
