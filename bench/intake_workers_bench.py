"""Intake on one worker against two, in the same run (issue 11: does intake scale out?).

Three runs: one worker; two workers keeping standby copies of each other's tables (Faust's
default, IPCOORD_TABLE_STANDBY_REPLICAS=1); two workers without (0).

For each worker count: COUNT submissions (bench/load.py, every 5th linked) are put on
ipcoord.intake.submissions.v1 by another process before any worker starts; then that many
`ipcoord serve intake` processes (the production runner, rocksdb store, one consumer group)
start together and work through them. The window runs from 10 % done, with every worker
serving (the group settled), to the last submission's case applied; done is the sum of the
workers' `ipcoord_events_consumed_total` on the case writers' topic (their /metrics: each
submission of this load becomes one record there, its case filed or a report linked into
it). Each worker's CPU in the window (/proc) says where the work went (the worker holding the
matcher's partition is marked), and the broker's.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from harness import bench_settings, broker_pid, preload, process_cpu_s  # noqa: E402
from ipcoord.platform.kafka_admin import delete_prefixed, ensure_topics  # noqa: E402
from ipcoord.platform.topics import INTAKE_SUBMISSIONS, full_name  # noqa: E402
from ipcoord.topology import all_topics  # noqa: E402
from support.serving import Replica, free_port, serving  # noqa: E402


def _consumed(topic: str) -> re.Pattern:
    return re.compile(
        rf'^ipcoord_events_consumed_total\{{[^}}]*topic="[^"]*{topic}[^"]*"[^}}]*\}} (\S+)$',
        re.MULTILINE,
    )


_CASEWORK, _SUBMISSIONS = _consumed(r"intake\.casework"), _consumed(r"intake\.submissions")


@dataclass
class Worker:
    replica: Replica
    metrics_port: int

    def consumed(self, pattern: re.Pattern = _CASEWORK) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics") as r:
                text = r.read().decode()
        except OSError:
            return 0  # not serving metrics yet
        return int(sum(float(v) for v in pattern.findall(text)))

    def cpu_s(self) -> float:
        return process_cpu_s(self.replica.process.pid)


def run(workers: int, standbys: int, count: int, data: Path) -> dict:
    settings = bench_settings("rocksdb://", data / f"workers-{workers}-{standbys}")
    ensure_topics(settings, all_topics())
    preload("submissions", settings, full_name(INTAKE_SUBMISSIONS, settings.topic_prefix), count)
    started = []
    try:
        for i in range(workers):
            port = free_port()
            env = {
                "IPCOORD_METRICS_PORT": str(port),
                "IPCOORD_LOG_LEVEL": "WARNING",
                "IPCOORD_TABLE_STANDBY_REPLICAS": str(standbys),
            }
            replica = Replica(settings, "intake", data, f"w{workers}-{standbys}-{i}", env=env)
            started.append(Worker(replica, port))
        done = lambda: sum(w.consumed() for w in started)  # noqa: E731
        while done() < count // 10 or not all(serving(w.replica.port, "intake") for w in started):
            for w in started:
                w.replica.keep_running()
            time.sleep(0.05)
        first, t0 = done(), time.perf_counter()
        cpu0 = [w.cpu_s() for w in started]
        broker = broker_pid()
        broker0 = process_cpu_s(broker) if broker else 0.0
        while (now := done()) < count:
            if time.perf_counter() - t0 > 600:
                raise TimeoutError(f"{workers} worker(s): {now} of {count} after 600 s")
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        cpu = [w.cpu_s() - c for w, c in zip(started, cpu0, strict=True)]
        return {
            "workers": workers,
            "standbys": standbys,
            "per_s": (count - first) / elapsed,
            "cpu_share": [c / elapsed for c in cpu],  # of one core, per worker
            "matcher": [w.consumed(_SUBMISSIONS) > 0 for w in started],
            "broker": (process_cpu_s(broker) - broker0) / elapsed if broker else None,
        }
    finally:
        for w in started:
            w.replica.stop()
        delete_prefixed(settings)


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = [run(w, standbys, count, Path(tmp)) for w, standbys in ((1, 1), (2, 1), (2, 0))]
    one = results[0]["per_s"]
    print(f"intake, {count} submissions pre-loaded, `ipcoord serve intake` workers (rocksdb)")
    for r in results:
        shares = ", ".join(
            f"{s:.0%}{' (matcher)' if m else ''}"
            for s, m in zip(r["cpu_share"], r["matcher"], strict=True)
        )
        broker = "" if r["broker"] is None else f"; broker {r['broker']:.0%}"
        print(
            f"  {r['workers']} worker(s), {r['standbys']} standby: {r['per_s']:5.0f} "
            f"submissions/s  x{r['per_s'] / one:.2f} of one worker   CPU of a core: "
            f"{shares}{broker}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    args = parser.parse_args()
    main(args.count)
