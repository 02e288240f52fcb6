"""Readiness of a replica (platform/forwarding.py, LookupRouter.answerable): every partition a
lookup may read is current here or has another replica to forward to."""

from __future__ import annotations

from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.forwarding import LookupRouter, Peers
from ipcoord.platform.identity import IdentityResolver
from ipcoord.platform.settings import Settings
from ipcoord.v1 import intake_pb2

HERE, THERE = "10.0.0.1:50051", "10.0.0.2:50051"


class Owners:
    def __init__(self) -> None:
        self.of: dict[int, str] = {}

    def owner(self, partition: int) -> str | None:
        return self.of.get(partition)


def _router(owners: Owners, ready: set[int]) -> LookupRouter:
    return LookupRouter(
        intake_pb2.DESCRIPTOR.services_by_name["CaseIntake"],
        owners,
        lambda p: p in ready,
        IdentityResolver(BureauRegistry.demo(), insecure_dev_identity=True),
        Peers(Settings(), "ipcoord-intake"),
        partitions=3,
        own_address=lambda: HERE,
    )


def test_ready_when_each_partition_is_current_here_or_owned_by_another():
    owners, ready = Owners(), {0}
    router = _router(owners, ready)
    owners.of = {0: HERE, 1: THERE, 2: THERE}
    assert router.answerable()


def test_not_ready_while_a_partition_it_owns_is_recovering():
    owners, ready = Owners(), {0}
    router = _router(owners, ready)
    owners.of = {0: HERE, 1: HERE, 2: THERE}  # 1 is this replica's, not current yet
    assert not router.answerable()
    ready.add(1)
    assert router.answerable()


def test_not_ready_during_a_rebalance_when_no_owner_is_known():
    owners, ready = Owners(), set()
    router = _router(owners, ready)
    owners.of = {0: THERE, 2: THERE}  # 1: no owner announced
    assert not router.answerable()
