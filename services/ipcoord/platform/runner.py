"""Runs one service: its Faust app and its gRPC server on one event loop, started and stopped
together.

Health (the standard gRPC health service) is readiness: NOT_SERVING until the app's consumers
are assigned and its tables recovered, then SERVING while the replica can answer what it is
asked, as far as it can tell (``readiness``: every partition a lookup may read is current here or
has a known owner to forward to; an owner that died is known until the group's session timeout),
so during a rebalance or a recovery it is NOT_SERVING again. Liveness is the
separate health name ``liveness`` (grpc_server.LIVENESS): SERVING from the server's start, so a
replica recovering or waiting out a rebalance is not restarted for it."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

import faust
from faust.exceptions import ConsistencyError

from ipcoord.platform.grpc_server import RunningServer, report_readiness

log = logging.getLogger(__name__)


@dataclass
class ServiceHandle:
    app: faust.App
    grpc: RunningServer | None = None
    # Started once the app is ready and before the gRPC server serves, stopped after it:
    # what the gRPC side needs from Kafka besides the app (e.g. the reply inbox).
    companions: tuple = ()
    # Called once the app has stopped; ``clean``: it stopped without error, so every record it
    # handled is committed (the journal then needs no redo at the next start).
    on_stopped: Callable[..., None] | None = None
    # Whether every lookup can be answered now (forwarding.ReplicaRouting.answerable); None:
    # ready once started.
    readiness: Callable[[], bool] | None = None
    _stopped: bool = field(default=False, init=False)
    _watch: asyncio.Task | None = field(default=None, init=False)

    @property
    def grpc_port(self) -> int:
        assert self.grpc is not None
        return self.grpc.port

    async def start(self, ready_timeout: float = 60.0) -> None:
        try:
            await self.app.start()
            await wait_until_ready(self.app, ready_timeout)
            for companion in self.companions:
                await companion.start()
        except BaseException:
            await self.stop()  # release the port and the Kafka clients before failing
            raise
        if self.grpc is not None:
            if self.readiness is None:
                await self.grpc.set_serving(True)
            else:
                self._watch = asyncio.create_task(report_readiness(self.grpc, self.readiness))
        log.info("service ready", extra={"app": self.app.conf.id})

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._watch is not None:
            self._watch.cancel()
        if self.grpc is not None:
            await self.grpc.stop()
        for companion in self.companions:
            await companion.stop()
        clean = False
        try:
            await self.app.stop()
            clean = True
        finally:
            if self.on_stopped is not None:
                self.on_stopped(clean=clean)


async def run_until_signalled(handle: ServiceHandle) -> None:
    """Start, serve until SIGINT or SIGTERM, then drain (NOT_SERVING, grace period) and stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await handle.start()
    log.info("serving", extra={"app": handle.app.conf.id, "grpc_port": handle.grpc_port})
    await stop.wait()
    await handle.stop()


class TableRecoveryFailed(RuntimeError):
    """Faust could not recover the tables (it would wait forever for the recovery)."""


async def wait_until_ready(app: faust.App, within_s: float) -> None:
    """Ready = partitions assigned and every table recovered from its changelog."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        assigned = bool(app.consumer.assignment()) if app.consumer else False
        recovered = app.tables.recovery.completed.is_set() if app.tables else True
        if assigned and recovered:
            return
        if app.tables and app.tables.recovery.crashed:
            raise _recovery_failed(app, app.tables.recovery.crash_reason)
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(
                f"{app.conf.id} not ready after {within_s}s (assigned={assigned}, "
                f"tables recovered={recovered})"
            )
        await asyncio.sleep(0.1)


def _recovery_failed(app: faust.App, reason: BaseException | None) -> TableRecoveryFailed:
    if isinstance(reason, ConsistencyError):
        # The local store remembers more of a changelog than the broker holds: the topics were
        # deleted and made again, or the broker lost data. The store cannot be trusted; the
        # changelogs can (they are what every replica recovers from).
        return TableRecoveryFailed(
            f"{app.conf.id}: its local table store ({app.conf.datadir}) is ahead of its "
            "changelog topics (were they deleted and created again, or the broker's data "
            "lost?). Stop this replica, delete that directory, and start it again: it "
            "recovers its tables from the changelogs"
        )
    return TableRecoveryFailed(f"{app.conf.id}: recovering its tables failed: {reason!r}")
