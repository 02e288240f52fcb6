"""Intake benchmarks, every figure next to a baseline measured in the same run.

Submissions are pre-loaded onto the topic by another process before anything is timed. Each
Kafka consumer then works through them; the window runs from the moment 10 % are done to the
last one, so start-up and recovery are outside it. CPU is this process's own (the service or
the pass-through; the broker and the loaders are other processes).

  (a) domain ceiling: decode, decide (validation included), evolve into dicts, encode the
      facts, in memory; (a') the same through intake's two writers (the matcher and the
      case writers: stages, journals, the records between them, replies);
  (b) intake end to end, `ipcoord serve`'s configuration, rocksdb and memory stores;
  (c) a bare aiokafka consume -> produce pass-through with intake's durability model;
  (d) a bare Faust agent with intake's app options and store: two table writes and one send
      per record, what the framework costs before any of intake's work.
Then GetCase and ListCases from a load generator in another process against the rocksdb
service, next to a bare grpc.aio echo server returning replies of the same size.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from ipcoord.intake.domain import Command, Meta, case_id_for, decide, evolve
from ipcoord.intake.main import build, rules_from
from ipcoord.intake.processor import MatcherLogic
from ipcoord.intake.state import IntakeState
from ipcoord.intake.views import case_view
from ipcoord.platform import codec
from ipcoord.platform.errors import DomainError
from ipcoord.platform.faust_app import create_app, envelope_topic
from ipcoord.platform.kafka_admin import delete_prefixed, ensure_topics
from ipcoord.platform.logs import configure_logging
from ipcoord.platform.settings import Settings
from ipcoord.platform.topics import CASES, INTAKE_SUBMISSIONS, full_name
from ipcoord.topology import all_topics
from ipcoord.v1 import intake_pb2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from harness import EchoServer, Rate, bench_settings, grpc_load, preload, window  # noqa: E402
from load import submissions  # noqa: E402
from support.intake_writers import IntakeWriters  # noqa: E402

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # the commands' time in the domain ceiling


def _settings(store: str, data: Path) -> Settings:
    return bench_settings(store, data)


def _preload(settings: Settings, count: int) -> None:
    preload("submissions", settings, full_name(INTAKE_SUBMISSIONS, settings.topic_prefix), count)


def domain_ceiling(envelopes: list[bytes], settings: Settings) -> Rate:
    rules = rules_from(settings)
    state = IntakeState()
    c0, t0 = time.process_time(), time.perf_counter()
    for i, raw in enumerate(envelopes):
        env = codec.decode(raw)
        body = MatcherLogic(rules).command_of(env, system=False)
        command = Command(body, env.producer_bureau, env.event_id, T0)
        try:
            facts = decide(command, state, rules)
        except DomainError:
            continue
        for n, fact in enumerate(facts):
            evolve(state, fact, Meta(f"{i}/{n}", T0, env.producer_bureau))
            codec.encode(codec.envelope(fact, producer_bureau="b", subject_key="k", event_id="e"))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return Rate("(a) domain in memory", len(envelopes) / elapsed, cpu / len(envelopes) * 1e6)


async def processor_in_memory(envelopes: list[bytes], settings: Settings) -> Rate:
    # Both writers, as main.py composes them, over dicts; the records between them are
    # handed over in memory (tests/support/intake_writers.py).
    writers = IntakeWriters({}, None, fail_stop=print)
    c0, t0 = time.process_time(), time.perf_counter()
    for offset, raw in enumerate(envelopes):
        await writers.submit(codec.decode(raw), offset, settle=False)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return Rate("(a') writers in memory", len(envelopes) / elapsed, cpu / len(envelopes) * 1e6)


async def intake_end_to_end(store: str, count: int, data: Path, keep=False):
    settings = _settings(store, data / store.split(":")[0])
    ensure_topics(settings, all_topics())
    _preload(settings, count)
    service = await build(settings, tick_interval_s=3600)
    await service.handle.start()
    # Done when each submission's case fact is applied by its case writer (one each: filed,
    # or a report linked into a case).
    done = lambda: service.case_writer.commands_handled  # noqa: E731
    rate = await window(f"(b) intake, {store}", done, count)
    if keep:
        return rate, service, settings
    await service.handle.stop()
    delete_prefixed(settings)
    return rate, None, None


async def passthrough(count: int, data: Path) -> Rate:
    settings = _settings("memory://", data)
    ensure_topics(settings, all_topics())
    _preload(settings, count)
    consumer = AIOKafkaConsumer(
        full_name(INTAKE_SUBMISSIONS, settings.topic_prefix),
        bootstrap_servers=settings.bootstrap_servers,
        group_id=f"{settings.topic_prefix}baseline",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
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
        return await window("(c) bare aiokafka pass-through", lambda: seen, count)
    finally:
        task.cancel()
        await consumer.stop()
        await producer.stop()
        delete_prefixed(settings)


async def faust_baseline(count: int, data: Path) -> Rate:
    """(d) What the framework costs alone: a bare Faust agent with intake's app options and
    the rocksdb store, two table writes and one send per record (a filing's stored writes and
    fact), no domain, no journal."""
    settings = _settings("rocksdb://", data)
    ensure_topics(settings, all_topics())
    _preload(settings, count)
    # Its table's changelog is in no registry: Faust makes it, as it would without ipcoord.
    app = create_app("bench-faust", settings, topic_allow_declare=True)
    table = app.Table("baseline", partitions=1, default=None, key_type=bytes, value_type=bytes)
    source = envelope_topic(app, INTAKE_SUBMISSIONS, settings)
    out = envelope_topic(app, CASES, settings)
    seen = 0

    @app.agent(source)
    async def forward(stream):
        nonlocal seen
        async for event in stream.events():
            table[event.key] = event.value[:300]
            table[event.key + b"/index"] = event.key
            await out.send(key=event.key, value=event.value)
            seen += 1

    await app.start()
    try:
        return await window("(d) bare Faust agent, 2 writes", lambda: seen, count)
    finally:
        await app.stop()
        delete_prefixed(settings)


async def lookups(service, settings: Settings, count: int, seconds: float, workers: int):
    case_ids = [case_id_for("ipb-sz", f"B-{i}") for i in range(0, count, 2) if i % 5]
    get = [intake_pb2.GetCaseRequest(case_id=c).SerializeToString() for c in case_ids]
    reply_bytes = case_view(service.state.cases[case_ids[0]], service.state).SerializeToString()
    echo = EchoServer(reply_bytes, "ipcoord.v1.CaseIntake", "GetCase")
    echo_port = echo.port
    port = service.grpc_port
    rows = {}
    try:
        rows["echo (same reply size)"] = await asyncio.to_thread(
            grpc_load, echo_port, "/ipcoord.v1.CaseIntake/GetCase", get, seconds, workers
        )
        rows["GetCase"] = await asyncio.to_thread(
            grpc_load, port, "/ipcoord.v1.CaseIntake/GetCase", get, seconds, workers
        )
        page = intake_pb2.ListCasesRequest(bureau="ipb-sz")
        page.page.page_size = 20
        rows["ListCases bureau, 20/page"] = await asyncio.to_thread(
            grpc_load,
            port,
            "/ipcoord.v1.CaseIntake/ListCases",
            [page.SerializeToString()],
            seconds,
            workers,
        )
    finally:
        echo.stop()
    return rows, len(reply_bytes), len(service.state.cases)


async def _rebuild_seconds(service) -> float:
    """What an assignment costs the rocksdb service: the derived indexes rebuilt from every
    case (a cold read cache, as after a rebalance), the matcher's and the case writers'."""
    started = time.perf_counter()
    for writer in (service.matcher, service.case_writer):
        writer.tables_changed()
        await writer.ensure_indexes()
    return time.perf_counter() - started


async def main(count: int, seconds: float, workers: int) -> None:
    configure_logging("WARNING", "text")
    logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)
    data = Path(tempfile.mkdtemp(prefix="ipcoord-bench-"))
    settings = _settings("memory://", data)
    envelopes = [codec.encode(e) for e in submissions(count)]

    rates = [domain_ceiling(envelopes, settings), await processor_in_memory(envelopes, settings)]
    rates.append(await passthrough(count, data / "pass"))
    rates.append(await faust_baseline(count, data / "faust"))
    rates.append((await intake_end_to_end("memory://", count, data))[0])
    rocks, service, rocks_settings = await intake_end_to_end("rocksdb://", count, data, keep=True)
    rates.append(rocks)
    try:
        rows, reply_size, cases = await lookups(service, rocks_settings, count, seconds, workers)
        rebuild_s = await _rebuild_seconds(service)
    finally:
        await service.handle.stop()
        delete_prefixed(rocks_settings)

    ceiling, passthrough_rate, framework = rates[0], rates[2], rates[3]
    print(f"submissions: {count} (1 in 5 linked to an earlier case, half from a monitoring feed)")
    print(
        f"{'':34} {'commands/s':>11} {'CPU us/cmd':>11} {'vs (a)':>7} {'vs (c)':>7} {'vs (d)':>7}"
    )
    for r in rates:
        print(
            f"{r.name:34} {r.per_s:11.0f} {r.cpu_us:11.0f} "
            f"{r.per_s / ceiling.per_s:7.2f} {r.per_s / passthrough_rate.per_s:7.2f} "
            f"{r.per_s / framework.per_s:7.2f}"
        )
    print(
        f"\nlookups: {cases} cases in state, reply {reply_size} bytes, {workers} concurrent calls"
    )
    echo = rows["echo (same reply size)"]
    print(f"{'':28} {'qps':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs echo':>8} {'errors':>7}")
    for name, row in rows.items():
        print(
            f"{name:28} {row['qps']:8.0f} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f} "
            f"{row['qps'] / echo['qps']:8.2f} {row['errors']:7d}"
        )
    print(f"\nderived indexes rebuilt from {cases} cases (an assignment): {rebuild_s:.2f} s")
    ratio = rows["ListCases bureau, 20/page"]["qps"] / rows["GetCase"]["qps"]
    print(f"ListCases / GetCase qps: {ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.seconds, args.workers))
