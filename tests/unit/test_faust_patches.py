"""The flow-control fix: resuming running flow keeps the queued records; resuming after a
suspend (a rebalance) still clears them, as Faust expects. The partition check: a changelog
whose partitions are not known yet is checked at the next write, a real mismatch raises."""

from __future__ import annotations

import types

import pytest
from faust.exceptions import PartitionsMismatch
from ipcoord.platform import faust_patches
from mode.utils.queues import FlowControlEvent, FlowControlQueue


async def test_resume_clears_queues_only_after_a_suspend(monkeypatch):
    monkeypatch.setattr(
        FlowControlEvent, "resume", faust_patches._resume_clearing_only_after_a_suspend
    )
    flow = FlowControlEvent()
    flow.resume()
    queue = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    queue.put_nowait("record fetched while recovery seeks")
    flow.resume()  # what recovery does at its end, flow already running
    assert queue.qsize() == 1
    flow.suspend()
    flow.resume()  # after a real suspend the records are stale: cleared
    assert queue.qsize() == 0


class _Consumer:
    def __init__(self, partitions: dict[str, int]) -> None:
        self.partitions = partitions

    def topic_partitions(self, topic: str) -> int | None:
        return self.partitions.get(topic)


class _Table:
    """What the partition check reads of a Faust table."""

    name = "cases"
    changelog_topic_name = "app-cases-changelog"

    def __init__(self, partitions: dict[str, int]) -> None:
        self._verified_source_topics_for_partitions: set[str] = set()
        self.app = types.SimpleNamespace(consumer=_Consumer(partitions))


@pytest.mark.parametrize("unknown", [0, None], ids=["no partitions yet", "not in the metadata"])
def test_a_changelog_just_created_is_checked_once_its_partitions_are_known(unknown):
    table = _Table({"source": 6, "app-cases-changelog": unknown})
    faust_patches._verify_partitions_once_known(table, "source")
    assert table._verified_source_topics_for_partitions == set()  # asked again next write
    table.app.consumer.partitions["app-cases-changelog"] = 6
    faust_patches._verify_partitions_once_known(table, "source")
    assert table._verified_source_topics_for_partitions == {"source"}


def test_a_real_partition_mismatch_still_raises():
    table = _Table({"source": 6, "app-cases-changelog": 1})
    with pytest.raises(PartitionsMismatch):
        faust_patches._verify_partitions_once_known(table, "source")
