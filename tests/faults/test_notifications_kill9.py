"""kill -9 under load, in the production configuration: `ipcoord serve notifications` with
the rocksdb store, killed twice while it routes a pre-loaded `ipcoord.cases.v1`, then
restarted. Every fact must reach its recipient exactly once: on ipcoord.notifications.v1 each
recipient's sequence is gap-free, each sequence names one notification and each notification
one sequence (repeats carry the same event id), and each recipient's inbox agrees."""

from __future__ import annotations

from collections import Counter, defaultdict

import grpc
from ipcoord.platform.topics import CASES, NOTIFICATIONS
from ipcoord.v1 import notifications_pb2 as N
from ipcoord.v1 import notifications_pb2_grpc
from support.kafka import produce_envelopes, read_envelopes, records_published
from support.notifications import case_facts
from support.serving import Replica, until_available, wait_for

BUREAUS = ["ppc-shenzhen", "ndrc", "ipb-gd", "ipb-sz", "cnipa", "amr-sz", "customs-gz"]
CASES_LOADED = 700
FACTS_PER_CASE = 2  # filed and accepted: two notifications for the handling bureau


def _load(settings) -> Counter:
    expected: Counter = Counter()
    facts = []
    for n in range(CASES_LOADED):
        bureau = BUREAUS[n % len(BUREAUS)]
        facts += case_facts(f"K9N-{n}", FACTS_PER_CASE, handling=bureau)
        expected[bureau] += FACTS_PER_CASE
    produce_envelopes(settings, CASES, facts)
    return expected


def _recorded(settings) -> tuple[dict, Counter]:
    """Per recipient: sequence -> the notification ids recorded under it; and how often each
    fact's event id appears (a repeat after a crash carries the same id)."""
    by_sequence: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    facts = read_envelopes(settings, NOTIFICATIONS, timeout_s=1.0)
    for fact in facts:
        if fact.WhichOneof("body") == "notification_recorded":
            body = fact.notification_recorded
            by_sequence[body.recipient][body.sequence].add(body.notification_id)
    return by_sequence, Counter(f.event_id for f in facts)


def test_kill_9_under_load_loses_and_duplicates_nothing(settings, tmp_path):
    expected = _load(settings)  # loaded before the service
    total = sum(expected.values())
    service = Replica(settings, "notifications", tmp_path, "notifications-k9")
    for target in (total // 3, 2 * total // 3):
        wait_for(lambda t=target: records_published(settings, NOTIFICATIONS) >= t, [service], 180)
        service.kill()
        service.restart(new_port=target > total // 3)
    try:
        service.wait_serving()

        def all_recorded() -> bool:
            by_sequence, _ = _recorded(settings)
            return sum(len(s) for s in by_sequence.values()) >= total

        wait_for(all_recorded, [service], 240)
        by_sequence, seen = _recorded(settings)
        gaps = [b for b in BUREAUS if sorted(by_sequence[b]) != list(range(1, expected[b] + 1))]
        two_under_one = [b for b in BUREAUS if any(len(i) > 1 for i in by_sequence[b].values())]
        ids = [i for b in BUREAUS for s in by_sequence[b].values() for i in s]
        one_under_two = len(ids) - len(set(ids))
        repeats = sum(n - 1 for n in seen.values())
        print(
            f"notifications kill -9 x2: {total} notifications to {len(BUREAUS)} recipients, "
            f"{len(gaps)} recipient(s) with a gap or an extra, {len(two_under_one)} with two "
            f"notifications under one sequence, {one_under_two} notification(s) under two "
            f"sequences, {repeats} repeated records (same event id), {service.fail_stops} "
            "fail-stop(s)"
        )
        assert not gaps and not two_under_one and not one_under_two
        _check_inboxes(expected, service.address)
    finally:
        service.stop()


def _check_inboxes(expected: Counter, address: str) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = notifications_pb2_grpc.NotificationsStub(channel)
        for bureau, count in expected.items():
            seen, token = [], ""
            while True:
                page = until_available(
                    stub.ListNotifications,
                    N.ListNotificationsRequest(page={"page_size": 500, "page_token": token}),
                    metadata=(("x-ipcoord-bureau", bureau),),
                )
                seen += [n.record.sequence for n in page.notifications]
                token = page.next_page_token
                if not token:
                    break
            assert seen == list(range(count, 0, -1)), bureau
