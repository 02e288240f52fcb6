"""One record of a single writer's command topic, as a Faust agent hands it over: the
partition's redo first after a crash, then the processor (platform/processor.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from ipcoord.platform import codec
from ipcoord.platform.journal import Source
from ipcoord.platform.offsets import committed_offsets
from ipcoord.platform.ownership import PartitionOwnership
from ipcoord.platform.processor import Processor
from ipcoord.platform.request_reply import HEADER_REPLY_TO
from ipcoord.platform.settings import Settings

log = logging.getLogger(__name__)

EnvelopeHandler = Callable[[codec.Envelope, object], Awaitable[None]]


def partitioned_writer(processor: Processor, settings: Settings, group_id: str) -> EnvelopeHandler:
    """The handler of a writer whose tables are partitioned like its input topic."""

    async def decide_one(env: codec.Envelope, event) -> None:
        message = event.message
        if processor.needs_redo_of(message.partition):
            # After a crash, before the partition's first command: what its tables may have
            # lost since the last committed offset, inside an event of that partition, so
            # that the changelog records go to it (docs/credit.md, "What survives a crash").
            committed = await committed_offsets(settings, group_id)
            key = (message.topic, message.partition)
            processor.redo_partition(message.topic, message.partition, committed.get(key, 0))
        await processor.handle(
            env,
            Source(message.topic, message.partition, message.offset),
            codec.header(event.headers, codec.HEADER_TRACEPARENT),
            system=True,
            reply_to=codec.header(event.headers, HEADER_REPLY_TO),
        )

    return decide_one


async def settle_idle_partitions(
    processor: Processor, settings: Settings, group_id: str, topic: str, partitions
) -> None:
    """After a crash, every owned partition with nothing to redo is marked so at once; its
    lookups would otherwise wait for a command that may never come (the notifications kill -9
    test saw a recipient's inbox UNAVAILABLE for a minute: its partition had no more work)."""
    if processor.was_clean or not any(processor.needs_redo_of(p) for p in partitions):
        return
    committed = await committed_offsets(settings, group_id)
    for partition in partitions:
        if processor.needs_redo_of(partition):
            processor.settle_without_redo(topic, partition, committed.get((topic, partition), 0))


def settle_after_rebalances(
    app,
    settings: Settings,
    writers: Iterable[tuple[Processor, PartitionOwnership, str]],
    then: Callable[[], None] | None = None,
) -> None:
    """After each rebalance, once it has ended: every partition a writer owns with nothing to
    redo after a crash is settled at once (``settle_idle_partitions``); the others redo with
    their first redelivered command. ``writers``: (processor, its ownership, its topic's full
    name). ``then``: what else follows each rebalance (notifications resumes its webhooks)."""
    writers = tuple(writers)
    pending: set[asyncio.Task] = set()

    async def settle() -> None:
        # Faust sends on_rebalance_complete before it seeks and resumes the streams; the
        # ownership counts only once the rebalance has ended.
        while app.rebalancing:  # noqa: ASYNC110 - Faust signals no end of a rebalance
            await asyncio.sleep(0.1)
        try:
            for processor, ownership, topic in writers:
                await _until_settled(processor, ownership, topic)
        finally:
            if then is not None:
                then()

    async def _until_settled(processor: Processor, ownership: PartitionOwnership, topic: str):
        # Again after a failure (the broker's group offsets not read): an idle partition
        # left unsettled would answer UNAVAILABLE until a command comes, maybe never.
        delay = 0.5
        while True:
            try:
                return await settle_idle_partitions(
                    processor, settings, app.conf.id, topic, ownership.owned
                )
            except Exception:
                if app.rebalancing:
                    return  # a new rebalance settles again after it
                log.warning("settling after the rebalance failed; again", exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def settled(task: asyncio.Task) -> None:
        pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("what follows the rebalance failed", exc_info=task.exception())

    @app.on_rebalance_complete.connect
    def _after_rebalance(sender, **kwargs) -> None:
        task = asyncio.ensure_future(settle())
        pending.add(task)
        task.add_done_callback(settled)
