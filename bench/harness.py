"""What every benchmark shares: settings for a throw-away run, loaders and gRPC load
generators in other processes (bench/load.py), the measuring window, and the grpc.aio echo
server every lookup is compared with."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ipcoord.platform.settings import Settings

HERE = Path(__file__).resolve().parent
_LOAD = [sys.executable, str(HERE / "load.py")]
_ENV = {"PYTHONPATH": f"{HERE}:{HERE.parent / 'tests'}"}


@dataclass
class Rate:
    name: str
    per_s: float
    cpu_us: float


def bench_settings(store: str, data: Path) -> Settings:
    return Settings(
        topic_prefix=f"bench{uuid.uuid4().hex[:8]}.",
        store=store,
        data_dir=data,
        grpc_port=0,
        grpc_host="127.0.0.1",
        advertised_host="127.0.0.1",
        insecure_dev_identity=True,
        log_level="WARNING",
        replica_id="bench",
    )


def env() -> dict:
    return {**os.environ, **_ENV}


def preload(kind: str, settings: Settings, topic: str, count: int) -> None:
    """Put ``count`` records of ``kind`` (bench/load.py) on ``topic`` from another process."""
    bootstrap = ",".join(settings.bootstrap_servers)
    subprocess.run([*_LOAD, kind, bootstrap, topic, str(count)], check=True, env=env())


async def window(name: str, done, count: int) -> Rate:
    """From 10 % done to all done: rate and CPU of this process per item. Polls a counter:
    signalling an event per item would add work to what is measured."""
    while done() < count // 10:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    first, t0, c0 = done(), time.perf_counter(), time.process_time()
    while done() < count:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    items = count - first
    return Rate(name, items / (time.perf_counter() - t0), (time.process_time() - c0) / items * 1e6)


def grpc_load(
    port: int, method: str, requests: list[bytes], seconds: float, workers: int, *, rate=None
) -> dict:
    """Calls from another process: ``workers`` concurrent calls in a closed loop (the most the
    server gives), or, with ``rate``, that many calls per second in an open loop."""
    with tempfile.NamedTemporaryFile("w", suffix=".hex", delete=False) as f:
        f.write("\n".join(r.hex() for r in requests))
    kind, load = ("grpc", str(workers)) if rate is None else ("grpc-rate", str(rate))
    out = subprocess.run(
        [*_LOAD, kind, f"127.0.0.1:{port}", method, str(seconds), load, f.name],
        check=True,
        capture_output=True,
        text=True,
        env=env(),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def ghz_path() -> str | None:
    """ghz (a Go gRPC load generator: `go install github.com/bojand/ghz/cmd/ghz@latest`), if
    installed: it loads a server with far less CPU than a Python client, so the two cores of
    this machine go to the server more than to its load."""
    found = shutil.which("ghz")
    if found is None and (Path.home() / "go" / "bin" / "ghz").exists():
        found = str(Path.home() / "go" / "bin" / "ghz")
    return found


def ghz_load(
    port: int,
    call: str,
    proto: str,
    messages: list[dict],
    seconds: float,
    workers: int,
    *,
    rate: float | None = None,
) -> dict:
    """``call`` ("pkg.Service.Method") with ``messages`` in turn, from ghz in another process:
    ``workers`` concurrent calls (the most the server gives), or at most ``rate`` per second."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(messages, f)
    command = [
        ghz_path(),
        "--insecure",
        f"--proto={HERE.parent / 'protos' / proto}",
        f"--import-paths={HERE.parent / 'protos'}",
        f"--call={call}",
        f"--data-file={f.name}",
        '--metadata={"x-ipcoord-bureau": "ipb-sz"}',
        f"--concurrency={workers}",
        f"--duration={seconds}s",
        "--format=json",
        *([f"--rps={rate:.0f}"] if rate else []),
        f"127.0.0.1:{port}",
    ]
    out = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    latency = {p["percentage"]: p["latency"] / 1e6 for p in out["latencyDistribution"] or []}
    codes = out.get("statusCodeDistribution") or {}
    kinds = out.get("errorDistribution") or {}
    # The calls under way when the duration is up are cut off by ghz closing its connection.
    cut_off = sum(n for kind, n in kinds.items() if "closing" in kind)
    return {
        "error_kinds": {kind: n for kind, n in kinds.items() if "closing" not in kind},
        "calls": codes.get("OK", 0),
        "errors": sum(n for code, n in codes.items() if code != "OK") - cut_off,
        "qps": codes.get("OK", 0) / (out["total"] / 1e9),
        "p50_ms": latency.get(50),
        "p99_ms": latency.get(99),
    }


class EchoServer:
    """The baseline: a bare grpc.aio server answering every call of ``service/method`` with
    ``reply``, in a process of its own like the service under test (in the bench's process it
    would share an event loop with the service's Kafka clients). For a method of ipcoord's
    contract it parses requests and serialises the reply as generated code does."""

    def __init__(self, reply: bytes, service: str = "bench.Echo", method: str = "Get") -> None:
        self._process = subprocess.Popen(
            [*_LOAD, "echo", service, method, reply.hex()],
            stdout=subprocess.PIPE,
            text=True,
            env=env(),
        )
        self.port = int(self._process.stdout.readline())

    def stop(self) -> None:
        self._process.kill()
        self._process.wait()


_KAFKA_SH = Path(__file__).resolve().parents[1] / "deploy" / "local" / "kafka" / "kafka.sh"
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")  # /proc/<pid>/stat counts CPU in clock ticks


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


def broker_pid() -> int | None:
    """The local broker's process (deploy/local/kafka/kafka.sh), if this machine runs it."""
    out = subprocess.run(["bash", str(_KAFKA_SH), "pid"], capture_output=True, text=True)
    return int(out.stdout) if out.returncode == 0 else None
