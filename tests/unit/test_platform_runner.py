"""The runner's wait for a service to be ready (platform/runner.py): a table recovery that
Faust gave up on ends the wait at once, saying what to do, instead of a timeout later."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from faust.exceptions import ConsistencyError
from ipcoord.platform.runner import TableRecoveryFailed, wait_until_ready


def _app(crash_reason: BaseException) -> SimpleNamespace:
    recovery = SimpleNamespace(completed=asyncio.Event(), crashed=True, crash_reason=crash_reason)
    return SimpleNamespace(
        consumer=SimpleNamespace(assignment=lambda: {"tp"}),
        tables=SimpleNamespace(recovery=recovery),
        conf=SimpleNamespace(id="ipcoord-intake", datadir="/data/intake"),
    )


async def test_a_store_ahead_of_its_changelog_says_to_delete_it():
    app = _app(ConsistencyError("persisted offset 348 > highwater 346"))
    with pytest.raises(TableRecoveryFailed, match=r"local table store \(/data/intake\) is ahead"):
        await wait_until_ready(app, within_s=60)


async def test_any_other_recovery_failure_is_named():
    with pytest.raises(TableRecoveryFailed, match="recovering its tables failed: OSError"):
        await wait_until_ready(_app(OSError("disk full")), within_s=60)
