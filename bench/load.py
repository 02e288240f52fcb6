"""Load generators, run as separate processes so that their work is outside the measured one.

python bench/load.py submissions BOOTSTRAP TOPIC COUNT     pre-load submissions (kafka-python)
python bench/load.py listings BOOTSTRAP TOPIC COUNT        pre-load credit commands listing
    COUNT entities (one RecordDishonesty each of a behaviour that lists at once)
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
    else:
        target, method, seconds, load, keys_file = args
        with open(keys_file) as f:
            keys = [bytes.fromhex(line.strip()) for line in f if line.strip()]
        if kind == "grpc":
            asyncio.run(_grpc(target, method, float(seconds), int(load), keys))
        else:
            asyncio.run(_grpc_rate(target, method, float(seconds), float(load), keys))
