"""Three fixes to faust-streaming 0.15.3 / mode (pinned in pyproject.toml), applied by create_app.

1. Records fetched during recovery's seek were dropped.

Faust's recovery ends by seeking the stream partitions to their committed offsets and then
resuming flow control, and mode's ``FlowControlEvent.resume`` always clears every stream queue.
But flow control had been resumed already (to read the changelogs), so the stream partitions
were fetching while the seek was awaited: the records fetched then sat in the queues, already
marked read, and the clear dropped them; the next fetch went on after them, and a later commit
covered them. In the kill -9 fault test this dropped hundreds of submissions after a restart
(a diagnostic run logged "seek to 2035", then "clear drops 264 queued events", then the
continuity guard saw 2059 followed by 2323).

The fix: resume clears the queues only when flow control really was suspended (a rebalance
revoking partitions, where Faust also clears them itself; the first start), never when it was
running. A record fetched before the seek took effect can now reach the stream twice (once
from the queue, once fetched again from the committed offset): the intake journal takes the
second as a redelivery (same offset, same facts) and Faust ignores the second ack; agents of a
single writer keep concurrency 1 so that order holds.

2. A replica whose address changed could not rejoin. Each replica announces its gRPC address
as Faust's ``canonical_url`` (platform/ownership.py), and Faust asserts that the assignment it
receives carries the URL it announces now. But a static member that rejoins with unchanged
topics gets the group's previous assignment back without a new one being computed (KIP-814),
which carries the URL it announced before a restart. If that changed (a new port, a new pod
IP), the assertion killed the consumer's coordinator and the replica hung. Now the old URL is
logged and accepted: the replica works; others forwarding lookups to its old address get
UNAVAILABLE until the group next rebalances, which a restart alone does not cause (README,
"Replicas": announce a stable name and port).

3. On a new cluster the first writes to a table failed for minutes. Before a table's changelog
record is sent, Faust checks that the changelog has as many partitions as the source topic,
reading the consumer's metadata snapshot (aiokafka keeps one on the group's leader only, so
only there does the check run at all). For a changelog Faust has just created, that snapshot
lists the topic with no partitions yet (its leader was not elected when it was fetched), and
nothing refreshes it while the consumer does not read the topic (5 minutes by default): every
write raised PartitionsMismatch "... has 0 partitions". `make dev` on a fresh broker
dead-lettered 1,606 notification commands and 13 submissions that way. Now no partitions reads
as "not known yet": the write goes on (the changelog record goes to the source record's
partition, which the producer looks up in its own metadata) and the check is made again at
the next write. A real mismatch still raises, and stops the service (platform/faust_app.py).

They are checked against faust-streaming 0.15.x only (pinned in pyproject.toml): another version
refuses to start until the patch has been re-checked against it."""

from __future__ import annotations

import logging

import faust
from faust.assignor.client_assignment import ClientMetadata
from faust.assignor.partition_assignor import PartitionAssignor
from faust.tables.base import Collection
from mode.utils.queues import FlowControlEvent

log = logging.getLogger(__name__)

_resume = FlowControlEvent.resume
_on_assignment = PartitionAssignor.on_assignment
_verify_partitions = Collection._verify_source_topic_partitions


def _resume_clearing_only_after_a_suspend(self: FlowControlEvent) -> None:
    if self.is_active():
        return  # running already: the queued records are live, not stale
    _resume(self)


def _on_assignment_under_an_old_url(self: PartitionAssignor, assignment) -> None:
    try:
        _on_assignment(self, assignment)
    except AssertionError:
        # Everything but the URL check has run by then (it is the method's last line).
        announced = ClientMetadata.loads(self._decompress(assignment.user_data)).url
        if announced == str(self._url):
            raise
        log.warning(
            "this replica's address changed since the group's last assignment; the other "
            "replicas forward lookups to the old one until the group rebalances (a replica "
            "joins or leaves): keep IPCOORD_ADVERTISED_HOST and the port stable",
            extra={"assigned_under": announced, "address": str(self._url)},
        )


def _verify_partitions_once_known(self: Collection, source_topic: str) -> None:
    if source_topic in self._verified_source_topics_for_partitions:
        return
    if not self.app.consumer.topic_partitions(self.changelog_topic_name):
        return  # just created: its partitions are not in the metadata yet; check next time
    _verify_partitions(self, source_topic)


def apply() -> None:
    if not faust.__version__.startswith("0.15."):
        raise RuntimeError(
            f"platform/faust_patches.py was checked against faust-streaming 0.15.x, not "
            f"{faust.__version__}: re-check the recovery flow it fixes before upgrading"
        )
    FlowControlEvent.resume = _resume_clearing_only_after_a_suspend
    PartitionAssignor.on_assignment = _on_assignment_under_an_old_url
    Collection._verify_source_topic_partitions = _verify_partitions_once_known
