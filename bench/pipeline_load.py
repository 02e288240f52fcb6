"""Load and receipt for the pipeline benchmark, each in a process of its own.

python bench/pipeline_load.py produce BOOTSTRAP TOPIC FIRST COUNT RATE
    COUNT repeat infringers' chains from number FIRST onto intake's submissions topic, as a
    bureau system sends them: per respondent a report, its case taken to an established
    decision and closed, a second report, its case decided too (CHAIN commands; the second
    decision lists the respondent in credit records). RATE chains per second, each command
    stamped when sent; 0: as fast as possible. Prints a JSON line: when each report and each
    second decision was sent ("filed:<case id>", "listed:<respondent USCC>").
python bench/pipeline_load.py receive TARGET SECONDS EXPECTED
    follows the Subscribe streams of the handling bureau (CaseFiled) and of an implementing
    department (SeriousDishonestyListed), new notifications only; prints "following", then,
    after EXPECTED listings or SECONDS, a JSON line: when each arrived, under the same keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time

from ipcoord.intake.keys import case_id_for, command_key
from ipcoord.platform import codec
from ipcoord.v1 import intake_pb2 as S
from support.reports import report, uscc

BUREAU = "ipb-sz"
DEPARTMENT = "ndrc"  # implements a measure of every infringement listing
CHAIN = 11  # commands per respondent: 2 reports, 2 x (accept, assign, investigate, decide), close


def chain(n: int) -> list[tuple[str, codec.Envelope]]:
    """Respondent n's commands in order, each with what it is ("report", "listing" for the
    decision that lists, "" otherwise)."""
    respondent = uscc(500_000 + n)
    out: list[tuple[str, object]] = []
    for second in (False, True):
        ref = f"PIPE-{n}-{'b' if second else 'a'}"
        case_id = case_id_for(BUREAU, ref)
        out.append(("report", report(ref, respondent_uscc=respondent, handling=BUREAU)))
        decision = S.Decision(
            infringement_established=True, infringement_type=2, respondent_uscc=respondent
        )
        out += [
            ("", S.IntakeCommand(accept_case=S.AcceptCase(case_id=case_id))),
            ("", S.IntakeCommand(assign_case=S.AssignCase(case_id=case_id, assignee="li"))),
            ("", S.IntakeCommand(start_investigation=S.StartInvestigation(case_id=case_id))),
            (
                "listing" if second else "",
                S.IntakeCommand(decide_case=S.DecideCase(case_id=case_id, decision=decision)),
            ),
        ]
        if not second:  # closed, so that the second report files a case of its own
            out.append(("", S.IntakeCommand(close_case=S.CloseCase(case_id=case_id, reason="p"))))
    return [(what, _envelope(body)) for what, body in out]


def _envelope(body) -> codec.Envelope:
    inner = (
        body if isinstance(body, S.ReportSubmitted) else getattr(body, body.WhichOneof("command"))
    )
    return codec.envelope(body, producer_bureau=BUREAU, subject_key=command_key(inner, BUREAU))


def _produce(bootstrap: str, topic: str, first: int, count: int, rate: float) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", linger_ms=5)
    producer.partitions_for(topic)  # connected, with the topic's metadata, before the clock runs
    sent: dict[str, float] = {}
    started = time.perf_counter()
    for i, n in enumerate(range(first, first + count)):
        if rate:
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        for what, env in chain(n):
            if rate:  # stamped now: latency counts from here
                env.occurred_at.GetCurrentTime()
            producer.send(
                topic,
                key=env.subject_key.encode(),
                value=codec.encode(env),
                headers=codec.headers(env),
            )
            if what == "report":
                case_id = case_id_for(BUREAU, env.report_submitted.external_ref)
                sent[f"filed:{case_id}"] = time.time()
            elif what == "listing":
                respondent = env.intake_command.decide_case.decision.respondent_uscc
                sent[f"listed:{respondent}"] = time.time()
    producer.flush()
    producer.close()
    print(json.dumps(sent))


async def _receive(target: str, seconds: float, expected: int) -> None:
    import grpc
    from ipcoord.v1 import notifications_pb2 as N
    from ipcoord.v1 import notifications_pb2_grpc

    arrived: dict[str, float] = {}
    listings = asyncio.Event()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = notifications_pb2_grpc.NotificationsStub(channel)

        async def follow(recipient: str, event_type: str, kind: str) -> None:
            count, cursor = 0, None
            while True:
                # Right after start a partition can still be recovering (UNAVAILABLE): ask
                # again from the last one received, as any client does.
                request = (
                    N.SubscribeRequest(recipient=recipient, only_new=True)
                    if cursor is None
                    else N.SubscribeRequest(recipient=recipient, after_cursor=cursor)
                )
                stream = stub.Subscribe(request, metadata=(("x-ipcoord-bureau", recipient),))
                try:
                    async for notification in stream:
                        record = notification.record
                        cursor = record.sequence
                        if record.source_event_type != event_type:
                            continue
                        # A listing's subject is its entity (the key of ipcoord.credit.v1).
                        arrived[f"{kind}:{record.subject_key}"] = time.time()
                        count += 1
                        if kind == "listed" and count >= expected:
                            listings.set()
                except grpc.aio.AioRpcError as error:
                    if error.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    cursor = cursor or 0
                    await asyncio.sleep(0.2)

        streams = [
            asyncio.ensure_future(follow(BUREAU, "CaseFiled", "filed")),
            asyncio.ensure_future(follow(DEPARTMENT, "SeriousDishonestyListed", "listed")),
        ]
        await asyncio.sleep(1)  # both streams are open
        print("following", flush=True)
        with contextlib.suppress(TimeoutError):  # fewer arrived: the bench says how many
            await asyncio.wait_for(listings.wait(), seconds)
        await asyncio.sleep(1)  # the last CaseFiled of each chain precede its listing anyway
        for stream in streams:
            stream.cancel()
        for ended in await asyncio.gather(*streams, return_exceptions=True):
            if not isinstance(ended, asyncio.CancelledError | None):
                print(f"a stream ended: {ended!r}", file=sys.stderr)
    print(json.dumps(arrived))


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    if kind == "produce":
        bootstrap, topic, first, count, rate = args
        _produce(bootstrap, topic, int(first), int(count), float(rate))
    elif kind == "receive":
        asyncio.run(_receive(args[0], float(args[1]), int(args[2])))
    else:
        raise SystemExit(__doc__)
