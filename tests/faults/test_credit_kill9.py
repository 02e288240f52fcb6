"""kill -9 under load, in the production configuration: `ipcoord serve credit` with the rocksdb
store, killed twice while it works through intake's decisions on a pre-loaded
`ipcoord.cases.v1`, then restarted. Every entity decided against twice must end with exactly
its two dishonesty records and one listing once repeats are dropped by event id (the contract
for consumers: docs/credit.md), and the service's profile of each must agree."""

from __future__ import annotations

from collections import Counter, defaultdict

import grpc
from ipcoord.platform import codec
from ipcoord.platform.topics import CASES, CREDIT
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import credit_pb2_grpc
from ipcoord.v1 import intake_pb2 as S
from support.kafka import produce_envelopes, read_envelopes, records_published
from support.reports import uscc
from support.serving import Replica, until_available, wait_for

ENTITIES = 700  # two established infringements each: two records and a listing


def _decisions() -> list[codec.Envelope]:
    out = []
    for round_ in (1, 2):
        for n in range(ENTITIES):
            case_id = f"K9C-{n}-{round_}"
            decided = S.CaseDecided(
                case_id=case_id,
                by_bureau="ipb-sz",
                decision=S.Decision(
                    infringement_established=True, respondent_uscc=uscc(20_000 + n)
                ),
            )
            out.append(
                codec.envelope(decided, producer_bureau="ipcoord-intake", subject_key=case_id)
            )
    return out


def _effects(settings) -> tuple[dict, dict, Counter]:
    """Per entity: the event ids of its records by source case, and of its listings; and how
    often each event id appears (a repeat after a crash carries the same id)."""
    records: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    listings: dict[str, set[str]] = defaultdict(set)
    facts = read_envelopes(settings, CREDIT, timeout_s=1.0)
    for fact in facts:
        kind = fact.WhichOneof("body")
        if kind == "dishonesty_recorded":
            body = fact.dishonesty_recorded
            records[body.entity.uscc][body.source_case_id].add(fact.event_id)
        elif kind == "serious_dishonesty_listed":
            listings[fact.serious_dishonesty_listed.entity.uscc].add(fact.event_id)
    return records, listings, Counter(f.event_id for f in facts)


def test_kill_9_under_load_loses_and_duplicates_nothing(settings, tmp_path):
    produce_envelopes(settings, CASES, _decisions())  # loaded before the service
    expected = 3 * ENTITIES  # facts: two records and a listing per entity
    service = Replica(settings, "credit", tmp_path, "credit-k9")
    for target in (expected // 3, 2 * expected // 3):
        wait_for(lambda t=target: records_published(settings, CREDIT) >= t, [service], 180)
        service.kill()
        # The last restart is under a new address: the group hands the static member its
        # previous assignment, announced under the old one (platform/faust_patches.py).
        service.restart(new_port=target > expected // 3)
    try:
        service.wait_serving()

        def all_listed() -> bool:
            _, listings, _ = _effects(settings)
            return len(listings) >= ENTITIES

        wait_for(all_listed, [service], 240)
        records, listings, seen = _effects(settings)
        entities = [uscc(20_000 + n) for n in range(ENTITIES)]
        lost = [e for e in entities if len(records[e]) != 2 or len(listings[e]) != 1]
        doubled = [
            e
            for e in entities
            if len(listings[e]) > 1 or any(len(ids) > 1 for ids in records[e].values())
        ]
        repeats = sum(n - 1 for n in seen.values())
        print(
            f"credit kill -9 x2: {ENTITIES} entities, {len(lost)} without exactly two records "
            f"and a listing, {len(doubled)} with an effect under two event ids, {repeats} "
            f"repeated records (same event id), {service.fail_stops} fail-stop(s)"
        )
        assert not lost and not doubled
        _check_profiles(entities[:: ENTITIES // 50], service.address)
    finally:
        service.stop()


def _check_profiles(entities: list[str], address: str) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = credit_pb2_grpc.CreditRecordsStub(channel)
        for entity in entities:
            profile = until_available(
                stub.GetCreditProfile,
                C.GetCreditProfileRequest(uscc=entity),
                metadata=(("x-ipcoord-bureau", "cnipa"),),
            )
            assert len(profile.records) == 2 and len(profile.active_listings) == 1, entity
