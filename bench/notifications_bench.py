"""Notifications benchmark: event-to-delivery latency, next to a bare aiokafka pass-through
through as many Kafka hops, measured in the same run.

1. The most the service gives: COUNT decided cases are put onto ipcoord.cases.v1 by another
   process as fast as it can; `ipcoord serve notifications`' configuration (rocksdb store)
   routes each to its right holder (one of 50), followed on 50 live Subscribe streams, and to
   a subscriber (ipb-gd) whose webhook receives it: two notifications and two deliveries per
   fact. The streams and the webhook receiver run in a process of their own. Facts per
   second, from 10 % to all done.
2. At half of that rate, for SECONDS: facts produced by another process, each stamped with the
   time it is sent, delivered the same way. p50/p99 from the fact's time to its receipt, per
   channel.
3. The baseline at the same rate: a bare aiokafka consume -> produce chain through three
   topics (the service's hops: ipcoord.cases.v1 -> routing -> commands ->
   ipcoord.notifications.v1), received by a consumer; the same p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
import grpc  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402
from harness import _LOAD, Rate, bench_settings, env, preload, window  # noqa: E402
from ipcoord.notifications.main import build  # noqa: E402
from ipcoord.platform import codec  # noqa: E402
from ipcoord.platform.kafka_admin import delete_prefixed, ensure_topics  # noqa: E402
from ipcoord.platform.logs import configure_logging  # noqa: E402
from ipcoord.platform.topics import CASES, full_name  # noqa: E402
from ipcoord.topology import all_topics  # noqa: E402
from ipcoord.v1 import notifications_pb2 as N  # noqa: E402
from ipcoord.v1 import notifications_pb2_grpc  # noqa: E402

SUBSCRIBER = "ipb-gd"
SUBSCRIPTION = "S-bench"
HOPS = 3


async def main(count: int, seconds: float, fixed_rate: float | None) -> None:
    configure_logging("WARNING", "text")
    logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)
    settings = bench_settings("rocksdb://", Path(tempfile.mkdtemp(prefix="ipcoord-bench-")))
    settings = settings.model_copy(
        update={
            "operators": frozenset({"cnipa"}),
            "webhook_allowed_networks": (ipaddress.ip_network("127.0.0.0/8"),),
        }
    )
    ensure_topics(settings, all_topics())
    cases = full_name(CASES, settings.topic_prefix)
    try:
        service = await build(settings)
        await service.handle.start()
        try:
            # Everything delivered while the service works at its most, as at half of it.
            if fixed_rate:
                most = Rate("notifications, most (not measured)", 2 * fixed_rate, 0.0)
                count = 0
            loaded = _Subscribers(service.grpc_port, 3600)
            await _subscribe(service.grpc_port, url=loaded.url)
            await asyncio.sleep(2)  # the streams are open
            loading = asyncio.ensure_future(
                asyncio.to_thread(preload, "decisions", settings, cases, count)
            )
            # A fact is done once its recipients' writers have recorded its two notifications
            # and its webhook's delivery: three commands (the subscription's change is one
            # more, before them).
            recorded = lambda: service.writer.commands_handled // 3  # noqa: E731
            if count:
                most = await window("notifications, most", recorded, count)
            await loading
            await _until(
                lambda: (
                    service.deliverer.in_flight == 0
                    and service.writer.commands_handled >= 3 * count + 1
                )
            )
            loaded.stop()
            rate = most.per_s / 2
            receiver = _Subscribers(service.grpc_port, seconds + 10)
            await _subscribe(service.grpc_port, url=receiver.url)
            await asyncio.sleep(2)
            await asyncio.to_thread(_produce_at, settings, cases, rate, seconds)
            received = await asyncio.to_thread(receiver.result)
        finally:
            await service.handle.stop()
        baseline = await _passthrough(settings, rate, seconds)
    finally:
        delete_prefixed(settings)

    print(
        f"\nnotifications: {count} decided cases, two notifications each (a right holder's, on "
        f"its stream; a subscriber's, to its webhook); rocksdb store"
    )
    print(
        f"most: {most.per_s:.0f} facts/s ({2 * most.per_s:.0f} notifications/s), "
        f"{most.cpu_us:.0f} CPU us/fact"
    )
    print(f"\nat {rate:.0f} facts/s for {seconds:.0f} s, from the fact's time to its receipt:")
    print(f"{'':44} {'received':>9} {'p50 ms':>8} {'p99 ms':>8}")
    rows = {
        "50 Subscribe streams": received["stream"],
        "webhook receiver": received["webhook"],
        f"bare aiokafka pass-through, {HOPS} hops": baseline,
    }
    for name, row in rows.items():
        print(f"{name:44} {row['received']:9d} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f}")
    base = baseline["p99_ms"]
    for name in ("50 Subscribe streams", "webhook receiver"):
        print(f"{name} p99 / pass-through p99: {rows[name]['p99_ms'] / base:.1f}")


async def _subscribe(port: int, *, url: str) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = notifications_pb2_grpc.NotificationsStub(channel)
        subscription = N.Subscription(
            subscription_id=SUBSCRIPTION,
            filter=N.SubscriptionFilter(event_types=["CaseDecided"]),
            channels=[N.CHANNEL_WEBHOOK],
            webhook_url=url,
        )
        for _ in range(600):
            try:
                await stub.PutSubscription(
                    subscription, metadata=(("x-ipcoord-bureau", SUBSCRIBER),), timeout=30
                )
                return
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                await asyncio.sleep(0.1)
        raise TimeoutError("the subscription was not taken")


async def _until(predicate) -> None:
    while not predicate():  # noqa: ASYNC110 - polls a counter, as harness.window does
        await asyncio.sleep(0.05)


class _Subscribers:
    """The streams and the webhook receiver, in a process of their own (bench/load.py)."""

    def __init__(self, port: int, seconds: float) -> None:
        self._process = subprocess.Popen(
            [*_LOAD, "subscribers", f"127.0.0.1:{port}", str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
            env=env(),
        )
        self.url = self._process.stdout.readline().strip()
        assert self._process.stdout.readline().strip() == "following"

    def stop(self) -> None:
        self._process.kill()
        self._process.wait()

    def result(self) -> dict:
        out = self._process.stdout.read()
        self._process.wait()
        return json.loads(out.strip().splitlines()[-1])


def _produce_at(settings, topic: str, rate: float, seconds: float) -> None:
    bootstrap = ",".join(settings.bootstrap_servers)
    subprocess.run(
        [*_LOAD, "decisions-rate", bootstrap, topic, str(rate), str(seconds)],
        check=True,
        env=env(),
    )


async def _passthrough(settings, rate: float, seconds: float, hops: int = HOPS) -> dict:
    """Facts at ``rate`` through ``hops`` bare consume -> produce stages (acks=all, as the
    service's producer), each a consumer group of its own; delays from the fact's time to its
    arrival after the last hop."""
    names = [f"{settings.topic_prefix}bench.hop{n}" for n in range(hops + 1)]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(n, 6, 1) for n in names])
    await admin.close()
    servers = settings.bootstrap_servers
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=0)
    await producer.start()
    consumers = [
        AIOKafkaConsumer(
            name,
            bootstrap_servers=servers,
            group_id=f"{name}.group",
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )
        for name in names
    ]
    for consumer in consumers:
        await consumer.start()
    delays: list[float] = []

    async def hop(consumer, out: str) -> None:
        async for record in consumer:
            await producer.send(out, key=record.key, value=record.value)

    async def last(consumer) -> None:
        async for record in consumer:
            occurred = codec.decode(record.value).occurred_at
            delays.append(time.time() - occurred.seconds - occurred.nanos / 1e9)

    stages = zip(consumers[:-1], names[1:], strict=True)
    tasks = [asyncio.ensure_future(hop(c, out)) for c, out in stages]
    tasks.append(asyncio.ensure_future(last(consumers[-1])))
    try:
        await asyncio.sleep(3)  # every group has its partitions
        await asyncio.to_thread(_produce_at, settings, names[0], rate, seconds)
        await asyncio.sleep(3)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for consumer in consumers:
            await consumer.stop()
        await producer.stop()
    delays.sort()
    return {
        "received": len(delays),
        "p50_ms": delays[len(delays) // 2] * 1000,
        "p99_ms": delays[min(len(delays) - 1, int(0.99 * len(delays)))] * 1000,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, help="only the latency at this rate (facts/s)")
    args = parser.parse_args()
    asyncio.run(main(args.count, args.seconds, args.rate))
