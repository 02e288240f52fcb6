"""One fix to faust-streaming 0.15.3 / mode (pinned in pyproject.toml), applied by create_app.

Faust's recovery ends by seeking the stream partitions to their committed offsets and then
resuming flow control, and mode's ``FlowControlEvent.resume`` always clears every stream queue.
But flow control had been resumed already (to read the changelogs), so the stream partitions
were fetching while the seek was awaited: the records fetched then sat in the queues, already
marked read, and the clear dropped them; the next fetch went on after them, and a later commit
covered them. In the kill -9 fault test this dropped hundreds of submissions after a restart
(a diagnostic run logged "seek to 2035", then "clear drops 264 queued events", then the
continuity guard saw 2059 followed by 2323).

The fix: resume clears the queues only when flow control really was suspended (a rebalance
revoking partitions, where Faust also clears them itself), never when it was running."""

from __future__ import annotations

from mode.utils.queues import FlowControlEvent

_resume = FlowControlEvent.resume


def _resume_clearing_only_after_a_suspend(self: FlowControlEvent) -> None:
    if self.is_active():
        return  # running already: the queued records are live, not stale
    _resume(self)


def apply() -> None:
    FlowControlEvent.resume = _resume_clearing_only_after_a_suspend
