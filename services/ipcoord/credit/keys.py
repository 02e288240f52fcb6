"""Every Kafka key credit records writes, in one place, and the partition a key lands in.

- ``ipcoord.credit.commands.v1``: a command under the USCC of the entity it is about (a
  feedback's comes from its listing id); the clock's ticks under ``CLOCK``, one per partition.
- ``ipcoord.credit.replies.v1``: a reply under the replica that waits for it.
- ``ipcoord.credit.v1``: a fact under the USCC of its entity (processor.uscc_of_fact)."""

from __future__ import annotations

from aiokafka.partitioner import murmur2

CLOCK = "clock"


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key``: where its writer and its
    tables are."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
