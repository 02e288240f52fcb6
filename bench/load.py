"""Load generators, run as separate processes so that their work is outside the measured one.

python bench/load.py submissions BOOTSTRAP TOPIC COUNT     pre-load submissions (kafka-python)
python bench/load.py grpc TARGET METHOD SECONDS CONCURRENCY KEYS_FILE
    unary calls with raw request bytes (one per line of KEYS_FILE, hex) for SECONDS at
    CONCURRENCY; prints a JSON line: calls, errors, qps, p50_ms, p99_ms.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from ipcoord.platform import codec
from support.reports import report, uscc


def submissions(count: int) -> list[codec.Envelope]:
    """Monitoring-feed-like load: every 5th report repeats a respondent and gets linked; half
    come from a monitoring feed that names the handling bureau."""
    out = []
    for i in range(count):
        rpt = report(f"B-{i}", respondent_uscc=uscc(i - 1 if i % 5 == 0 and i else i))
        bureau = "ipb-sz"
        if i % 2:
            bureau, rpt.handling_bureau = "monitor-cnipa", "ipb-sz"
        out.append(codec.envelope(rpt, producer_bureau=bureau, subject_key=f"{bureau}/B-{i}"))
    return out


def _preload(bootstrap: str, topic: str, count: int) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap.split(","), acks="all", enable_idempotence=True, linger_ms=5
    )
    for env in submissions(count):
        producer.send(topic, key=env.subject_key.encode(), value=codec.encode(env))
    producer.flush()
    producer.close()


async def _grpc(target: str, method: str, seconds: float, concurrency: int, keys: list[bytes]):
    import grpc

    latencies: list[float] = []
    errors = 0
    metadata = (("x-ipcoord-bureau", "ipb-sz"),)
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(method)  # raw bytes in and out: no client-side decoding
        deadline = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            nonlocal errors
            i = n
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    await call(keys[i % len(keys)], metadata=metadata, timeout=10)
                    latencies.append(time.perf_counter() - started)
                except grpc.aio.AioRpcError:
                    errors += 1
                i += concurrency

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    print(
        json.dumps(
            {
                "calls": len(latencies),
                "errors": errors,
                "qps": len(latencies) / elapsed,
                "p50_ms": pct(0.50) if latencies else None,
                "p99_ms": pct(0.99) if latencies else None,
            }
        )
    )


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    if kind == "submissions":
        _preload(args[0], args[1], int(args[2]))
    else:
        target, method, seconds, concurrency, keys_file = args
        with open(keys_file) as f:
            keys = [bytes.fromhex(line.strip()) for line in f if line.strip()]
        asyncio.run(_grpc(target, method, float(seconds), int(concurrency), keys))
