"""Kafka submissions through intake vs a bare aiokafka consume->produce pass-through, same run.

    make bench     (or: .venv/bin/python bench/intake_submissions.py --count 5000)

Both consumers are started and assigned first; then the same submissions are produced and the
clock runs until the last one is handled. Prints events/s for both and the ratio."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from ipcoord.intake.main import build
from ipcoord.platform import codec
from ipcoord.platform.kafka_admin import delete_prefixed, ensure_topics
from ipcoord.platform.logs import configure_logging
from ipcoord.platform.settings import Settings
from ipcoord.platform.topics import CASES, INTAKE_SUBMISSIONS, full_name

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.kafka import eventually, produce
from support.reports import report, uscc


def _settings(tmp: Path) -> Settings:
    return Settings(
        topic_prefix=f"bench{uuid.uuid4().hex[:8]}.",
        store="memory://",
        data_dir=tmp,
        grpc_port=0,
        grpc_host="127.0.0.1",
        log_level="WARNING",
    )


def _submissions(count: int) -> list[tuple[bytes, bytes]]:
    """Monitoring-feed-like load: every 5th report repeats a respondent and gets linked."""
    items = []
    for i in range(count):
        rpt = report(f"B-{i}", respondent_uscc=uscc(i - 1 if i % 5 == 0 and i else i))
        bureau = "ipb-sz"
        if i % 2:
            bureau, rpt.handling_bureau = "monitor-cnipa", "ipb-sz"
        env = codec.envelope(rpt, producer_bureau=bureau, subject_key=f"{bureau}/B-{i}")
        items.append((env.subject_key.encode(), codec.encode(env)))
    return items


async def _timed_load(settings: Settings, items, done) -> float:
    started = time.perf_counter()
    await asyncio.to_thread(produce, settings, INTAKE_SUBMISSIONS, items)
    await eventually(done, timeout_s=600, interval_s=0.02)
    return time.perf_counter() - started


async def _intake(settings: Settings, items) -> float:
    service = await build(settings, tick_interval_s=3600)
    await service.handle.start()
    try:
        # Every submission here is valid, so each ends up in the submission index.
        return await _timed_load(
            settings, items, lambda: len(service.state.submissions) >= len(items)
        )
    finally:
        await service.handle.stop()


async def _passthrough(settings: Settings, items) -> float:
    consumer = AIOKafkaConsumer(
        full_name(INTAKE_SUBMISSIONS, settings.topic_prefix),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.topic_prefix}baseline",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await consumer.start()
    await producer.start()
    out = full_name(CASES, settings.topic_prefix)
    seen = 0

    async def forward() -> None:
        # Intake's durability model: send without waiting, flush the producer before each
        # offset commit, commit every 100 records (Faust's broker_commit_every here).
        nonlocal seen
        async for record in consumer:
            await producer.send(out, key=record.key, value=record.value)
            seen += 1
            if seen % 100 == 0:
                await producer.flush()
                await consumer.commit()

    task = asyncio.create_task(forward())
    try:
        return await _timed_load(settings, items, lambda: seen >= len(items))
    finally:
        task.cancel()
        await consumer.stop()
        await producer.stop()


async def main(count: int) -> None:
    configure_logging("WARNING", "text")
    # Under full load Faust says "producer buffer full" many times a second: that is the
    # back-pressure being measured, not news.
    logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)
    items = _submissions(count)
    baseline_settings, intake_settings = _settings(Path("var/bench")), _settings(Path("var/bench"))
    for s in (baseline_settings, intake_settings):
        ensure_topics(s)
    try:
        base = await _passthrough(baseline_settings, items)
        intake = await _intake(intake_settings, items)
    finally:
        delete_prefixed(baseline_settings)
        delete_prefixed(intake_settings)
    print(f"submissions: {count} (1 in 5 linked to an earlier case)")
    print(f"baseline, bare aiokafka consume->produce, acks=all:  {count / base:8.0f} events/s")
    print(f"intake, validate/dedupe/trace/decide/tables/publish: {count / intake:8.0f} events/s")
    print(f"ratio intake/baseline: {base / intake:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=5000)
    asyncio.run(main(parser.parse_args().count))
