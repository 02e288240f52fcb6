"""Credit records benchmark: the point-of-decision check with many listed entities, next to a
bare grpc.aio echo server measured in the same run.

COUNT entities are listed first: their commands (one RecordDishonesty each, of a behaviour
that lists at once) are pre-loaded onto ipcoord.credit.commands.v1 by another process, and
`ipcoord serve credit`'s configuration (rocksdb store) works through them; how fast is printed
too. Then, from a load generator in another process:

  - the most each server gives: CheckDiscipline by USCC (a random listed entity, so the read
    cache is mostly cold) and the echo server returning a reply of the same size, each with
    WORKERS concurrent calls: queries per second, and their ratio;
  - CheckDiscipline at half of its own most (a rate limit): p50 and p99 latency, next to the
    echo server at the same rate.

The load comes from ghz when it is installed (far lighter than a Python client on this
two-core machine), else from a grpc.aio client (bench/load.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
import grpc  # noqa: E402
from harness import (  # noqa: E402
    EchoServer,
    bench_settings,
    ghz_load,
    ghz_path,
    grpc_load,
    preload,
    window,
)
from ipcoord.credit.main import build  # noqa: E402
from ipcoord.platform.kafka_admin import delete_prefixed, ensure_topics  # noqa: E402
from ipcoord.platform.logs import configure_logging  # noqa: E402
from ipcoord.platform.topics import CREDIT_COMMANDS, full_name  # noqa: E402
from ipcoord.topology import all_topics  # noqa: E402
from ipcoord.v1 import credit_pb2 as C  # noqa: E402
from support.reports import uscc  # noqa: E402

METHOD = "/ipcoord.v1.CreditRecords/CheckDiscipline"
CALL = "ipcoord.v1.CreditRecords.CheckDiscipline"


async def main(count: int, seconds: float, workers: int) -> None:
    configure_logging("WARNING", "text")
    logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)
    settings = bench_settings("rocksdb://", Path(tempfile.mkdtemp(prefix="ipcoord-bench-")))
    ensure_topics(settings, all_topics())
    preload("listings", settings, full_name(CREDIT_COMMANDS, settings.topic_prefix), count)
    service = await build(settings, tick_interval_s=3600)
    await service.handle.start()
    try:
        writer = await window(
            "credit writer, rocksdb", lambda: service.processor.commands_handled, count
        )
        await service.processor.ensure_indexes()
        pauses = _GcPauses()
        rows, reply_size, half = await _lookups(service, count, seconds, workers)
        pauses.stop()
    finally:
        await service.handle.stop()
        delete_prefixed(settings)

    print(
        f"credit writer (listing {count} entities, rocksdb): {writer.per_s:.0f} commands/s, "
        f"{writer.cpu_us:.0f} CPU us/command"
    )
    generator = "ghz" if ghz_path() else "a grpc.aio client (install ghz for a lighter load)"
    print(
        f"\nCheckDiscipline: {count} listed entities, reply {reply_size} bytes, load from "
        f"{generator}, {workers} concurrent calls at most"
    )
    print(f"{'':42} {'qps':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, row in rows.items():
        print(
            f"{name:42} {row['qps']:8.0f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
            f"{row['errors']:7d}"
        )
    for name, row in rows.items():
        for kind, n in (row.get("error_kinds") or {}).items():
            print(f"  {name}: {n} x {kind}")
    print(f"\ngarbage collections in this process while loaded: {pauses}")
    most, echo = rows["CheckDiscipline, most"], rows["echo, most"]
    print(f"\nCheckDiscipline / echo qps at most: {most['qps'] / echo['qps']:.2f}")
    at_half = rows[f"CheckDiscipline, {half:.0f}/s"]
    print(f"CheckDiscipline p99 at half of its most ({half:.0f}/s): {at_half['p99_ms']:.2f} ms")


async def _lookups(service, count: int, seconds: float, workers: int):
    # Random listed entities (a fixed seed: the same in every run), a few thousand of them.
    picks = random.Random(7).sample(range(count), min(count, 5000))
    entities = [uscc(1_000_000 + i) for i in picks]
    reply = await _one_answer(service, entities[0])
    # The echo server answers the same call, so one load generator drives both the same way.
    echo = EchoServer(reply, "ipcoord.v1.CreditRecords", "CheckDiscipline")
    ports = {"echo": echo.port, "CheckDiscipline": service.grpc_port}

    def load(port: int, rate: float | None = None) -> dict:
        if ghz_path():
            messages = [{"uscc": e} for e in entities]
            return ghz_load(
                port, CALL, "ipcoord/v1/credit.proto", messages, seconds, workers, rate=rate
            )
        requests = [C.CheckDisciplineRequest(uscc=e).SerializeToString() for e in entities]
        return grpc_load(port, METHOD, requests, seconds, workers, rate=rate)

    rows = {}
    try:
        for name, port in ports.items():
            rows[f"{name}, most"] = await asyncio.to_thread(load, port)
        half = rows["CheckDiscipline, most"]["qps"] / 2
        for name, port in ports.items():
            rows[f"{name}, {half:.0f}/s"] = await asyncio.to_thread(load, port, half)
    finally:
        echo.stop()
    return rows, len(reply), half


class _GcPauses:
    """How often, and how long, Python's garbage collector stopped the service's loop."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0
        gc.callbacks.append(self._observe)

    def _observe(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append(time.perf_counter() - self._started)

    def stop(self) -> None:
        gc.callbacks.remove(self._observe)

    def __str__(self) -> str:
        return ", ".join(
            f"generation {g}: {len(p)}, longest {max(p, default=0) * 1000:.1f} ms"
            for g, p in self.pauses.items()
        )


async def _one_answer(service, entity: str) -> bytes:
    """A real answer's bytes, for the echo server to return (and a check that it applies)."""
    request = C.CheckDisciplineRequest(uscc=entity).SerializeToString()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        call = channel.unary_unary(METHOD)
        reply = await call(request, metadata=(("x-ipcoord-bureau", "ipb-sz"),), timeout=30)
    assert C.CheckDisciplineResponse.FromString(reply).applies
    return reply


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.seconds, args.workers))
