"""A single writer must see every record of its partitions, in order. This guard notices when
the consumer skipped some and stops the process before the skip can be committed.

Why: after a restart with a backlog, faust-streaming 0.15 handed the stream the committed
record and then one hundreds of offsets further on, and a later commit covered the records in
between (docs/intake.md, "What survives a crash"; fixed in platform/faust_patches.py). This
guard is the safety net for any other path that skips. Offsets can also skip legitimately
(transaction markers, aborted records), so a skip is checked against the partition itself
before the process gives up."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from ipcoord.platform import kafka_client
from ipcoord.platform.offsets import committed_offsets
from ipcoord.platform.settings import Settings

log = logging.getLogger(__name__)


class SkippedRecords(RuntimeError):
    pass


class ContinuityGuard:
    def __init__(self, settings: Settings, group_id: str) -> None:
        self._settings = settings
        self._group_id = group_id
        self._expected: dict[tuple[str, int], int] = {}

    async def check(self, topic: str, partition: int, offset: int) -> None:
        """Call before handling each record; raises SkippedRecords when records between the
        last one handled (or the group's committed offset) and this one were never handled."""
        tp = (topic, partition)
        expected = self._expected.get(tp)
        if expected is None or offset > expected:
            # First record here (start or rebalance), or a jump: what is really unhandled?
            committed = (await committed_offsets(self._settings, self._group_id)).get(tp, 0)
            start = max(committed, expected or 0)
            if offset > start:
                skipped = await self._records_between(topic, partition, start, offset)
                if skipped:
                    raise SkippedRecords(
                        f"{topic}[{partition}]: the consumer skipped {skipped} record(s) between "
                        f"offsets {start} and {offset} (committed {committed}); exiting "
                        f"uncommitted so that they are delivered again"
                    )
        # Behind what was expected: a redelivery after a seek, which the handler absorbs.
        self._expected[tp] = offset + 1

    async def _records_between(self, topic: str, partition: int, start: int, end: int) -> int:
        """How many records a read_committed reader finds in [start, end)."""
        tp = TopicPartition(topic, partition)
        consumer = AIOKafkaConsumer(
            **kafka_client.connection(self._settings),
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            consumer.seek(tp, start)
            found = 0
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=2000)
                records = batch.get(tp, [])
                if not records:
                    break
                found += sum(1 for r in records if r.offset < end)
            return found
        finally:
            await consumer.stop()
