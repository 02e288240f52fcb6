"""Load generators, run as separate processes so that their work is outside the measured one.

python bench/load.py submissions BOOTSTRAP TOPIC COUNT     pre-load submissions (kafka-python)
python bench/load.py listings BOOTSTRAP TOPIC COUNT        pre-load credit commands listing
    COUNT entities (one RecordDishonesty each of a behaviour that lists at once)
python bench/load.py decisions BOOTSTRAP TOPIC COUNT      pre-load COUNT CaseDecided facts
    (ipcoord.cases.v1), each for one of RIGHT_HOLDERS right holders
python bench/load.py decisions-rate BOOTSTRAP TOPIC RATE SECONDS
    the same at RATE facts per second, each stamped with the time it is sent
python bench/load.py subscribers TARGET SECONDS
    a webhook receiver on port 0 (its URL printed first), then one Subscribe stream per right
    holder (as the operator cnipa) for new notifications only; after SECONDS prints a
    JSON line: per channel, how many arrived and p50/p99 from the fact's time to receipt
python bench/load.py grpc TARGET METHOD SECONDS CONCURRENCY KEYS_FILE
    unary calls with raw request bytes (one per line of KEYS_FILE, hex) for SECONDS at
    CONCURRENCY (closed loop: the most the server gives); prints a JSON line: calls, errors,
    qps, p50_ms, p99_ms.
python bench/load.py echo SERVICE METHOD REPLY_HEX
    a bare grpc.aio server answering SERVICE/METHOD with REPLY, in a process of its own (as the
    service under test has one); prints its port, serves until killed.
python bench/load.py grpc-rate TARGET METHOD SECONDS RATE KEYS_FILE
    the same at a fixed RATE of calls per second (open loop: each call starts on schedule,
    whether or not earlier ones have returned), so latency is that of a server under RATE.
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


def listings(count: int) -> list[codec.Envelope]:
    """Credit commands as its gRPC edge writes them: each lists one entity at once."""
    from ipcoord.credit.stream import command
    from ipcoord.v1 import credit_pb2 as C

    out = []
    for i in range(count):
        entity = uscc(1_000_000 + i)
        body = C.RecordDishonesty(
            entity={"uscc": entity, "name": f"Entity {i}"},
            behaviour=C.DISHONEST_BEHAVIOUR_FALSE_DOCUMENTS,
        )
        out.append(command(body, actor="cnipa", key=entity))
    return out


RIGHT_HOLDERS = [uscc(3_000_000 + n) for n in range(50)]


def decision(i: int) -> codec.Envelope:
    """A case decided: a notification for its right holder (and for any subscriber)."""
    from ipcoord.v1 import intake_pb2 as S

    case_id = f"BN-{i}"
    decided = S.CaseDecided(
        case_id=case_id,
        by_bureau="ipb-sz",
        right_holder={"uscc": RIGHT_HOLDERS[i % len(RIGHT_HOLDERS)]},
        decision=S.Decision(infringement_established=False),
    )
    return codec.envelope(decided, producer_bureau="ipcoord-intake", subject_key=case_id)


def _decisions_at_rate(bootstrap: str, topic: str, rate: float, seconds: float) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", linger_ms=0)
    producer.partitions_for(topic)  # connected, with the topic's metadata, before the clock runs
    started = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        env = decision(1_000_000 + i)  # stamped now
        producer.send(
            topic, key=env.subject_key.encode(), value=codec.encode(env), headers=codec.headers(env)
        )
    producer.flush()
    producer.close()


async def _subscribers(target: str, seconds: float) -> None:
    """Every notification's delay from its fact's time (occurred_at) to its arrival here, on
    the streams of the right holders and at the webhook receiver."""
    from datetime import datetime

    import grpc
    from aiohttp import web
    from ipcoord.v1 import notifications_pb2 as N
    from ipcoord.v1 import notifications_pb2_grpc

    delays: dict[str, list[float]] = {"stream": [], "webhook": []}

    async def hook(request: web.Request) -> web.Response:
        payload = await request.json()
        at = datetime.fromisoformat(payload["data"]["record"]["occurredAt"].replace("Z", "+00:00"))
        delays["webhook"].append(time.time() - at.timestamp())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"http://127.0.0.1:{runner.addresses[0][1]}/hook", flush=True)
    operator = (("x-ipcoord-bureau", "cnipa"),)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = notifications_pb2_grpc.NotificationsStub(channel)

        async def follow(recipient: str) -> None:
            stream = stub.Subscribe(
                N.SubscribeRequest(recipient=recipient, only_new=True), metadata=operator
            )
            async for notification in stream:
                occurred = notification.record.occurred_at
                delays["stream"].append(time.time() - occurred.seconds - occurred.nanos / 1e9)

        streams = [asyncio.ensure_future(follow(r)) for r in RIGHT_HOLDERS]
        print("following", flush=True)
        await asyncio.sleep(seconds)
        for stream in streams:
            stream.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
    await runner.cleanup()
    print(json.dumps({channel: latency_summary(found) for channel, found in delays.items()}))


def latency_summary(delays: list[float]) -> dict:
    """How many, and p50/p99 in ms (None when there are none)."""
    delays = sorted(delays)

    def pct(p: float) -> float | None:
        return delays[min(len(delays) - 1, int(p * len(delays)))] * 1000 if delays else None

    return {"received": len(delays), "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


def _preload(bootstrap: str, topic: str, envelopes: list[codec.Envelope]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap.split(","), acks="all", enable_idempotence=True, linger_ms=5
    )
    for env in envelopes:
        producer.send(
            topic, key=env.subject_key.encode(), value=codec.encode(env), headers=codec.headers(env)
        )
    producer.flush()
    producer.close()


_METADATA = (("x-ipcoord-bureau", "ipb-sz"),)


async def _grpc(target: str, method: str, seconds: float, concurrency: int, keys: list[bytes]):
    import grpc

    latencies: list[float] = []
    errors = 0
    metadata = _METADATA
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
    _report(latencies, errors, elapsed)


async def _grpc_rate(target: str, method: str, seconds: float, rate: float, keys: list[bytes]):
    import grpc

    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(method)

        async def one(i: int) -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                await call(keys[i % len(keys)], metadata=_METADATA, timeout=10)
                latencies.append(time.perf_counter() - started)
            except grpc.aio.AioRpcError:
                errors += 1

        await call(keys[0], metadata=_METADATA, timeout=10)  # connected before the clock runs
        calls, started = [], time.perf_counter()
        for i in range(int(seconds * rate)):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            calls.append(asyncio.ensure_future(one(i)))
        await asyncio.gather(*calls)
        elapsed = time.perf_counter() - started
    _report(latencies, errors, elapsed)


async def _echo(service: str, method: str, reply: bytes) -> None:
    """Answers ``service/method`` with ``reply``. A method of ipcoord's contract is served the
    way its generated servicer is (the request parsed, the reply a message serialised per
    call), so that the baseline differs from the service only by the service's own work."""
    import grpc
    import ipcoord.v1.credit_pb2
    import ipcoord.v1.intake_pb2  # noqa: F401 - their services join the descriptor pool
    from google.protobuf import descriptor_pool, message_factory

    try:
        found = descriptor_pool.Default().FindMethodByName(f"{service}.{method}")
    except KeyError:
        found = None
    if found is None:
        parse, serialise, answer = None, None, reply
    else:
        parse = message_factory.GetMessageClass(found.input_type).FromString
        serialise = message_factory.GetMessageClass(found.output_type).SerializeToString
        answer = message_factory.GetMessageClass(found.output_type).FromString(reply)

    async def echo(request, context):
        return answer

    handler = grpc.method_handlers_generic_handler(
        service,
        {
            method: grpc.unary_unary_rpc_method_handler(
                echo, request_deserializer=parse, response_serializer=serialise
            )
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


def _report(latencies: list[float], errors: int, elapsed: float) -> None:
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
    if kind == "echo":
        asyncio.run(_echo(args[0], args[1], bytes.fromhex(args[2])))
    elif kind in ("submissions", "listings"):
        made = submissions if kind == "submissions" else listings
        _preload(args[0], args[1], made(int(args[2])))
    elif kind == "decisions":
        _preload(args[0], args[1], [decision(i) for i in range(int(args[2]))])
    elif kind == "decisions-rate":
        _decisions_at_rate(args[0], args[1], float(args[2]), float(args[3]))
    elif kind == "subscribers":
        asyncio.run(_subscribers(args[0], float(args[1])))
    else:
        target, method, seconds, load, keys_file = args
        with open(keys_file) as f:
            keys = [bytes.fromhex(line.strip()) for line in f if line.strip()]
        if kind == "grpc":
            asyncio.run(_grpc(target, method, float(seconds), int(load), keys))
        else:
            asyncio.run(_grpc_rate(target, method, float(seconds), float(load), keys))
