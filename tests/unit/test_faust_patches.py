"""The flow-control fix: resuming running flow keeps the queued records; resuming after a
suspend (a rebalance) still clears them, as Faust expects."""

from __future__ import annotations

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
