"""Kafka submissions through intake vs a bare aiokafka consume->produce pass-through, same run.

    make bench            (or: .venv/bin/python bench/intake_submissions.py --count 5000)
Prints events/s for both and the ratio. Not part of the test suite."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.kafka import produce  # noqa: E402
from support.reports import report, uscc  # noqa: E402

from ipcoord.intake.main import build  # noqa: E402
from ipcoord.platform import codec  # noqa: E402
from ipcoord.platform.kafka_admin import delete_prefixed, ensure_topics  # noqa: E402
from ipcoord.platform.logs import configure_logging  # noqa: E402
from ipcoord.platform.settings import Settings  # noqa: E402
from ipcoord.platform.topics import CASES, INTAKE_SUBMISSIONS, full_name  # noqa: E402


def _settings(tmp: Path) -> Settings:
    return Settings(
        topic_prefix=f"bench{uuid.uuid4().hex[:8]}.",
        store="memory://",
        data_dir=tmp,
        grpc_port=0,
        grpc_host="127.0.0.1",
        log_level="WARNING",
    )


def _load(settings: Settings, count: int) -> None:
    # Distinct respondents, every 5th a repeat (linked instead of filed), as monitoring feeds are.
    items = []
    for i in range(count):
        respondent = uscc(i if i % 5 else max(i - 1, 0))
        env = codec.envelope(
            report(f"B-{i}", respondent_uscc=respondent),
            producer_bureau="monitor-cnipa" if i % 2 else "ipb-sz",
            subject_key=f"b/{i}",
        )
        if i % 2:
            env.report_submitted.handling_bureau = "ipb-sz"
        items.append((env.subject_key.encode(), codec.encode(env)))
    produce(settings, INTAKE_SUBMISSIONS, items)


async def _intake(settings: Settings, count: int) -> float:
    service = await build(settings, tick_interval_s=3600)
    started = time.perf_counter()
    await service.handle.start()
    while len(list(service.processed.keys())) < count:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    await service.handle.stop()
    return elapsed


async def _passthrough(settings: Settings, count: int) -> float:
    consumer = AIOKafkaConsumer(
        full_name(INTAKE_SUBMISSIONS, settings.topic_prefix),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.topic_prefix}baseline",
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    started = time.perf_counter()
    await consumer.start()
    await producer.start()
    out = full_name(CASES, settings.topic_prefix)
    seen = 0
    try:
        async for record in consumer:
            await (await producer.send(out, key=record.key, value=record.value))
            seen += 1
            if seen >= count:
                break
    finally:
        await consumer.stop()
        await producer.stop()
    return time.perf_counter() - started


async def main(count: int) -> None:
    configure_logging("WARNING", "text")
    tmp = Path("var/bench")
    baseline_settings, intake_settings = _settings(tmp), _settings(tmp)
    for s in (baseline_settings, intake_settings):
        ensure_topics(s)
        _load(s, count)
    try:
        base = await _passthrough(baseline_settings, count)
        intake = await _intake(intake_settings, count)
    finally:
        delete_prefixed(baseline_settings)
        delete_prefixed(intake_settings)
    print(f"submissions: {count}")
    print(
        f"baseline aiokafka consume->produce (acks=all, per-record ack): "
        f"{count / base:8.0f} events/s"
    )
    print(
        f"intake (validate, dedupe, trace, decide, publish, tables):     "
        f"{count / intake:8.0f} events/s  (includes app start)"
    )
    print(f"ratio intake/baseline: {base / intake:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    asyncio.run(main(parser.parse_args().count))
