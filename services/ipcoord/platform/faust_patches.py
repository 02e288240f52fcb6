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
revoking partitions, where Faust also clears them itself; the first start), never when it was
running. A record fetched before the seek took effect can now reach the stream twice (once
from the queue, once fetched again from the committed offset): the intake journal takes the
second as a redelivery (same offset, same facts) and Faust ignores the second ack; agents of a
single writer keep concurrency 1 so that order holds.

It is checked against faust-streaming 0.15.x only (pinned in pyproject.toml): another version
refuses to start until the patch has been re-checked against it."""

from __future__ import annotations

import faust
from mode.utils.queues import FlowControlEvent

_resume = FlowControlEvent.resume


def _resume_clearing_only_after_a_suspend(self: FlowControlEvent) -> None:
    if self.is_active():
        return  # running already: the queued records are live, not stale
    _resume(self)


def apply() -> None:
    if not faust.__version__.startswith("0.15."):
        raise RuntimeError(
            f"platform/faust_patches.py was checked against faust-streaming 0.15.x, not "
            f"{faust.__version__}: re-check the recovery flow it fixes before upgrading"
        )
    FlowControlEvent.resume = _resume_clearing_only_after_a_suspend
