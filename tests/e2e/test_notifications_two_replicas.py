"""Two `ipcoord serve notifications` replicas in one consumer group (rocksdb, the production
runner): the recipients' six partitions shared between them, the router on one. Every lookup,
stream and write is answered correctly on both, whichever replica holds the recipient; with
one replica stopped, the other answers everything after the rebalance, and a stream resumed
there from its cursor has no gap and no duplicate."""

from __future__ import annotations

import time

import grpc
from ipcoord.platform.ownership import partition_of
from ipcoord.platform.topics import CASES, NOTIFICATIONS_COMMANDS
from ipcoord.v1 import notifications_pb2 as N
from ipcoord.v1 import notifications_pb2_grpc
from support.kafka import produce_envelopes
from support.notifications import case_facts
from support.serving import Replica, until_available, wait_for

# Recipients on five of the six partitions (the demo bureaus hash to no more), so both
# replicas hold some.
BUREAUS = ["ppc-shenzhen", "ndrc", "ipb-gd", "ipb-sz", "cnipa", "amr-sz", "customs-gz"]
PER_BUREAU = 3


def _as(bureau: str):
    return (("x-ipcoord-bureau", bureau),)


def _inbox(stub, bureau: str) -> list[int]:
    page = until_available(
        stub.ListNotifications, N.ListNotificationsRequest(), metadata=_as(bureau)
    )
    return [n.record.sequence for n in page.notifications]


def _streamed(stub, bureau: str, after: int, count: int) -> list[N.Notification]:
    stream = stub.Subscribe(
        N.SubscribeRequest(after_cursor=after), metadata=_as(bureau), timeout=30
    )
    taken = []
    for notification in stream:
        taken.append(notification)
        if len(taken) == count:
            break
    stream.cancel()
    return taken


def _stream_on(stub, bureau: str, after: int, count: int) -> list[N.Notification]:
    """A client's Subscribe: again on UNAVAILABLE (a rebalance), from where it was."""
    taken: list[N.Notification] = []
    last_error = ""
    for _ in range(100):
        try:
            taken += _streamed(stub, bureau, after, count - len(taken))
            return taken
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            last_error = error.details()
            after = taken[-1].record.sequence if taken else after
            time.sleep(0.2)
    raise AssertionError(f"the stream stayed unavailable: {last_error}")


def test_every_lookup_stream_and_write_is_answered_on_either_replica(settings, tmp_path):
    partitions = {partition_of(b, NOTIFICATIONS_COMMANDS.partitions) for b in BUREAUS}
    assert len(partitions) == 5, partitions
    replicas = [Replica(settings, "notifications", tmp_path, n) for n in ("notif-a", "notif-b")]
    channels = []
    try:
        for replica in replicas:
            replica.wait_serving()
        channels = [grpc.insecure_channel(r.address) for r in replicas]
        stubs = [notifications_pb2_grpc.NotificationsStub(c) for c in channels]
        for i, bureau in enumerate(BUREAUS):
            produce_envelopes(settings, CASES, case_facts(f"C-{i}", PER_BUREAU, handling=bureau))
        expected = list(range(PER_BUREAU, 0, -1))
        wait_for(lambda: all(_inbox(stubs[0], b) == expected for b in BUREAUS), replicas, 60)

        for stub in stubs:
            for bureau in BUREAUS:
                assert _inbox(stub, bureau) == expected, bureau
                streamed = _stream_on(stub, bureau, 1, PER_BUREAU - 1)
                assert [n.record.sequence for n in streamed] == [2, 3], bureau

        # Writes through either replica: acknowledgement by recipient, subscriptions (router).
        for i, bureau in enumerate(BUREAUS):
            stub = stubs[i % 2]
            page = until_available(
                stub.ListNotifications, N.ListNotificationsRequest(), metadata=_as(bureau)
            )
            first = page.notifications[-1].record.notification_id
            acked = until_available(
                stub.Acknowledge,
                N.AcknowledgeRequest(notification_ids=[first]),
                metadata=_as(bureau),
            )
            assert acked.acknowledged == 1, bureau
            kept = until_available(
                stub.PutSubscription,
                N.Subscription(subscription_id=f"S-{bureau}", channels=[N.CHANNEL_STREAM]),
                metadata=_as(bureau),
            )
            assert kept.recipient == bureau
        for stub in stubs:
            for bureau in BUREAUS:
                unread = until_available(
                    stub.ListNotifications,
                    N.ListNotificationsRequest(unread_only=True),
                    metadata=_as(bureau),
                )
                assert [n.record.sequence for n in unread.notifications] == [3, 2], bureau
                listed = until_available(
                    stub.ListSubscriptions, N.ListSubscriptionsRequest(), metadata=_as(bureau)
                )
                assert [s.subscription_id for s in listed.subscriptions] == [f"S-{bureau}"]

        # One replica goes: the other answers for every recipient, and a stream resumes there.
        replicas[1].stop()
        for i, bureau in enumerate(BUREAUS):
            produce_envelopes(settings, CASES, case_facts(f"C-late-{i}", 1, handling=bureau))
        for bureau in BUREAUS:
            streamed = _stream_on(stubs[0], bureau, PER_BUREAU, 1)
            assert [n.record.sequence for n in streamed] == [PER_BUREAU + 1], bureau
            assert streamed[0].record.subject_key.startswith("C-late-")
    finally:
        for channel in channels:
            channel.close()
        for replica in replicas:
            replica.stop()
