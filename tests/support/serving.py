"""`ipcoord serve <service>` in its own process, as an operator (or Kubernetes) runs it: the
production runner and store, a free port, a log file, waits on the standard health check."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

GRPC_SERVICE = {
    "intake": "ipcoord.v1.CaseIntake",
    "credit": "ipcoord.v1.CreditRecords",
    "notifications": "ipcoord.v1.Notifications",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serving(port: int, service: str) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=GRPC_SERVICE[service]), timeout=1
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


_STARTED: list[subprocess.Popen] = []


def kill_leftovers() -> None:
    """Kill every service process a test started and left running (a test that failed half-way:
    a replica left behind would load the machine for every later test and benchmark)."""
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


class Replica:
    """One replica of a service: rocksdb store, dev identity, its own data directory and
    replica id. A process that fail-stops (exit 70, for instance when Faust skipped records at
    start, platform/continuity.py) is started again by ``keep_running``, as Kubernetes would;
    any other exit fails the test."""

    MAX_FAIL_STOPS = 3

    def __init__(
        self,
        settings,
        service: str,
        directory: Path,
        name: str,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.service, self.name = service, name
        self.port = port or free_port()
        self.log = directory / f"{name}.log"  # a file: a full pipe would block the service
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "IPCOORD_TOPIC_PREFIX": settings.topic_prefix,
            "IPCOORD_STORE": "rocksdb://",
            "IPCOORD_DATA_DIR": str(directory / name),
            "IPCOORD_REPLICA_ID": name,
            "IPCOORD_GRPC_PORT": str(self.port),
            "IPCOORD_GRPC_HOST": "127.0.0.1",
            "IPCOORD_ADVERTISED_HOST": "127.0.0.1",
            "IPCOORD_INSECURE_DEV_IDENTITY": "true",
            **(env or {}),
        }
        self.fail_stops = 0
        self.process = self._start()

    def _start(self) -> subprocess.Popen:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "ipcoord"), "serve", self.service],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        _STARTED.append(process)
        return process

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def tail(self) -> str:
        return self.log.read_text()[-3000:]

    def keep_running(self) -> None:
        code = self.process.poll()
        if code is None:
            return
        assert code == 70, f"{self.name}: exit {code}: {self.tail()}"
        self.fail_stops += 1
        assert self.fail_stops <= self.MAX_FAIL_STOPS, self.tail()
        self.process = self._start()

    def restart(self, *, new_port: bool = False) -> None:
        """Start again on the same data directory (as a StatefulSet pod comes back), under a
        new port if asked (the group may still hold the address it announced before)."""
        if new_port:
            self.port = free_port()
            self.env["IPCOORD_GRPC_PORT"] = str(self.port)
        self.process = self._start()

    def wait_serving(self, timeout_s: float = 120) -> None:
        wait_for(lambda: serving(self.port, self.service), [self], timeout_s)

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no drain, no commit, no flush
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=60) == 0, self.tail()


def wait_for(predicate, replicas: list[Replica], timeout_s: float) -> None:
    """Poll ``predicate`` while keeping the replicas running; fail with their logs' tails."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        for replica in replicas:
            replica.keep_running()
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {r.name}\n{r.tail()}" for r in replicas)
            raise AssertionError(f"not reached in {timeout_s}s\n{tails}")
        time.sleep(0.1)


def until_available(call, request, *, metadata, timeout_s: float = 60):
    """A client's retry of UNAVAILABLE (a rebalance or a recovery under way); any other
    answer, or UNAVAILABLE for longer than ``timeout_s``, is returned or raised."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call(request, metadata=metadata, timeout=5)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
