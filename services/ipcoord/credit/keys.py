"""Every Kafka key credit records writes, in one place, and the partition a key lands in.

- ``ipcoord.credit.commands.v1``: a command under the USCC of the entity it is about (a
  feedback's comes from its listing id); the clock's ticks under ``CLOCK``, one per partition.
- ``ipcoord.credit.replies.v1``: a reply under the replica that waits for it.
- ``ipcoord.credit.v1``: a fact under the USCC of its entity (processor.uscc_of_fact)."""

from __future__ import annotations

from ipcoord.platform.ownership import partition_of

__all__ = ["CLOCK", "partition_of"]

CLOCK = "clock"
