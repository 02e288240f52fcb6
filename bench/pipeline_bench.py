"""The whole pipeline: a bureau system's submissions and case commands through intake, credit
records and notifications, each service a process of its own (`ipcoord serve`, rocksdb
store), next to a bare aiokafka pass-through through as many hops, in the same run.

Each respondent is a chain of CHAIN commands (bench/pipeline_load.py): two reports, each case
taken to an established decision, the first closed; the second decision lists the respondent
in credit records, and the listing notifies the implementing departments.

1. The most it gives: COUNT chains put on ipcoord.intake.submissions.v1 by another process as
   fast as it can. From the 10 % listing to the last one to reach an implementing
   department's stream: chains/s, commands/s and events/s (facts on the shared log).
2. At half of that, for SECONDS: chains sent at that rate, each command stamped when sent.
   p50/p99 from a report's sending to its CaseFiled notification on the handling bureau's
   stream (intake -> notifications), and from the second decision's sending to the listing
   notification on the department's stream (intake -> credit -> notifications).
3. The baseline at the same events/s: a bare aiokafka consume -> produce chain through HOPS
   topics (the listing's path: submissions -> cases -> credit commands -> credit facts ->
   routing -> notification commands -> notifications), received by a consumer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from harness import bench_settings, broker_pid, env, process_cpu_s  # noqa: E402
from ipcoord.platform.kafka_admin import delete_prefixed, ensure_topics  # noqa: E402
from ipcoord.platform.topics import CASES, CREDIT, INTAKE_SUBMISSIONS, full_name  # noqa: E402
from ipcoord.topology import all_topics  # noqa: E402
from load import latency_summary  # noqa: E402
from notifications_bench import _passthrough  # noqa: E402
from pipeline_load import CHAIN  # noqa: E402
from support.kafka import records_published  # noqa: E402
from support.serving import Replica  # noqa: E402

_PIPE = [sys.executable, str(HERE / "pipeline_load.py")]
SERVICES = ("intake", "credit", "notifications")
# The listing's hops between topics (3 below are each service's own command/fact hops).
HOPS = 6


@contextlib.contextmanager
def _services(settings, data: Path):
    """The three services as `make dev` runs them (`ipcoord serve`, rocksdb store), with this
    run's topic prefix: the tests' Replica (tests/support/serving.py)."""
    replicas = {name: Replica(settings, name, data, name) for name in SERVICES}
    try:
        for replica in replicas.values():
            replica.wait_serving()
        pids = {name: replica.process.pid for name, replica in replicas.items()}
        if broker_pid() is not None:
            pids["broker"] = broker_pid()
        yield {name: replica.port for name, replica in replicas.items()}, pids
    finally:
        for replica in replicas.values():
            replica.stop()


class _CpuShare:
    """Each process's CPU from now on, as a share of one core over the same time."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids, self._t0 = pids, time.perf_counter()
        self._cpu0 = {name: process_cpu_s(pid) for name, pid in pids.items()}

    def shares(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self._t0
        return {
            name: (process_cpu_s(pid) - self._cpu0[name]) / elapsed
            for name, pid in self._pids.items()
        }


class _Receiver:
    def __init__(self, port: int, seconds: float, expected: int) -> None:
        self._process = subprocess.Popen(
            [*_PIPE, "receive", f"127.0.0.1:{port}", str(seconds), str(expected)],
            stdout=subprocess.PIPE,
            text=True,
            env=env(),
        )
        assert self._process.stdout.readline().strip() == "following"

    def arrivals(self) -> dict[str, float]:
        out = self._process.stdout.read()
        self._process.wait()
        return json.loads(out.strip().splitlines()[-1])


def _produce(settings, first: int, count: int, rate: float) -> dict[str, float]:
    topic = full_name(INTAKE_SUBMISSIONS, settings.topic_prefix)
    out = subprocess.run(
        [
            *_PIPE,
            "produce",
            settings.kafka_bootstrap_servers,
            topic,
            str(first),
            str(count),
            str(rate),
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env(),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


async def main(count: int, seconds: float) -> None:
    data = Path(tempfile.mkdtemp(prefix="ipcoord-pipeline-"))
    settings = bench_settings("rocksdb://", data)
    ensure_topics(settings, all_topics())
    try:
        with _services(settings, data) as (ports, pids):
            # 1. The most.
            receiver = _Receiver(ports["notifications"], 600, count)
            cpu = _CpuShare(pids)
            _produce(settings, 0, count, 0)
            listed = sorted(
                t for key, t in receiver.arrivals().items() if key.startswith("listed:")
            )
            shares = cpu.shares()
            if len(listed) < count:
                raise SystemExit(f"only {len(listed)} of {count} listings arrived; see {data}")
            start = listed[count // 10]
            chains_per_s = (count - count // 10) / (listed[-1] - start)
            facts = records_published(settings, CASES) + records_published(settings, CREDIT)
            # 2. Latency at half of it, once what the first phase left in flight is done.
            await asyncio.sleep(5)
            rate = chains_per_s / 2
            receiver = _Receiver(ports["notifications"], seconds + 30, int(rate * seconds))
            sent = _produce(settings, count, int(rate * seconds), rate)
            arrived = receiver.arrivals()
        # 3. The baseline, services stopped, at the same events/s.
        events_per_s = rate * facts / count
        baseline = await _passthrough(settings, events_per_s, seconds, hops=HOPS)
    finally:
        delete_prefixed(settings)

    filed = [arrived[k] - t for k, t in sent.items() if k.startswith("filed:") and k in arrived]
    listing = [arrived[k] - t for k, t in sent.items() if k.startswith("listed:") and k in arrived]
    if not (filed and listing):
        raise SystemExit(f"nothing arrived at half load ({len(filed)}, {len(listing)})")
    print(f"\npipeline: {count} repeat infringers, {CHAIN} commands each, three services")
    print(
        f"most: {chains_per_s:.1f} chains/s = {CHAIN * chains_per_s:.0f} commands/s, "
        f"{facts / count * chains_per_s:.0f} events/s on ipcoord.cases.v1 + "
        f"ipcoord.credit.v1 ({facts / count:.1f} per chain)"
    )
    busy = ", ".join(f"{name} {share:.0%}" for name, share in shares.items())
    print(f"CPU of a core while the most ran, from loading to the last listing: {busy}")
    print(f"\nat {rate:.1f} chains/s ({events_per_s:.0f} events/s) for {seconds:.0f} s:")
    print(f"{'':58} {'received':>9} {'p50 ms':>8} {'p99 ms':>8}")
    rows = {
        "report -> CaseFiled on the bureau's stream": latency_summary(filed),
        "decision -> listing on the department's stream": latency_summary(listing),
        f"bare aiokafka pass-through, {HOPS} hops": baseline,
    }
    for name, row in rows.items():
        print(f"{name:58} {row['received']:9d} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f}")
    for name in list(rows)[:2]:
        print(f"{name} p99 / pass-through p99: {rows[name]['p99_ms'] / baseline['p99_ms']:.1f}")
    if os.environ.get("IPCOORD_BENCH_KEEP"):
        print(f"logs in {data}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.seconds))
