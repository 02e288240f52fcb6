"""Whether a replica may read its tables, from Faust's rebalance signals in the order Faust
sends them: not between an assignment and the end of the recovery that follows it."""

from __future__ import annotations

from types import SimpleNamespace

from faust.types import TP
from ipcoord.platform.ownership import PartitionOwnership

WRITER = TP("ipcoord.intake.submissions.v1", 0)


class Signal:
    def __init__(self) -> None:
        self.receivers = []

    def connect(self, fun):
        self.receivers.append(fun)
        return fun

    def send(self, *args) -> None:
        for receiver in self.receivers:
            receiver("app", *args, signal=self)


class Assignor:
    """The group's assignment as Faust's assignor hands it to every member: each member's
    active partitions under the URL it announced."""

    def __init__(self) -> None:
        self.group: dict[str, dict[str, list[int]]] = {}

    def external_topics_metadata(self):
        return self.group


class App:
    def __init__(self) -> None:
        self.on_partitions_revoked = Signal()
        self.on_partitions_assigned = Signal()
        self.on_rebalance_complete = Signal()
        self.rebalancing = False
        self.assignor = Assignor()
        self.conf = SimpleNamespace(canonical_url=None)


def test_tables_are_current_only_after_the_recovery_that_follows_an_assignment():
    app, changed = App(), []
    ownership = PartitionOwnership(WRITER.topic, lambda: changed.append(True))
    ownership.connect(app)
    assert not ownership.current(0)
    app.rebalancing = True
    app.on_partitions_revoked.send(set())
    app.on_partitions_assigned.send({WRITER})
    assert not ownership.current(0)  # recovery has not run yet
    app.on_rebalance_complete.send()
    assert not ownership.current(0)  # Faust still marks the rebalance as running
    app.rebalancing = False
    assert ownership.current(0)
    # Caches and indexes were dropped at the assignment and again once recovery had run.
    assert len(changed) == 2


def test_a_replica_without_the_partition_or_mid_rebalance_does_not_read():
    app = App()
    ownership = PartitionOwnership(WRITER.topic, lambda: None)
    ownership.connect(app)
    app.on_partitions_assigned.send({TP("other", 0)})
    app.on_rebalance_complete.send()
    assert not ownership.current(0)
    app.on_partitions_assigned.send({WRITER})
    app.on_rebalance_complete.send()
    assert ownership.current(0)
    app.on_partitions_revoked.send({WRITER})
    assert not ownership.current(0)


def test_each_owned_partition_of_the_topic_counts_and_no_other():
    app = App()
    ownership = PartitionOwnership("credit", lambda: None)
    ownership.connect(app)
    app.on_partitions_assigned.send({TP("credit", 1), TP("credit", 4), TP("other", 2)})
    app.on_rebalance_complete.send()
    assert [p for p in range(6) if ownership.current(p)] == [1, 4]


def test_the_owner_of_each_partition_is_the_address_its_replica_announced():
    app = App()
    ownership = PartitionOwnership("credit", lambda: None)
    ownership.connect(app)
    app.assignor.group = {
        "http://10.0.0.5:50052": {"credit": [0, 2, 4], "other": [1]},
        "http://[fd00::7]:50052": {"credit": [1, 3, 5]},
    }
    app.on_partitions_assigned.send({TP("credit", 0), TP("credit", 2), TP("credit", 4)})
    assert [ownership.owner(p) for p in range(6)] == ["10.0.0.5:50052", "[fd00::7]:50052"] * 3
    app.on_partitions_revoked.send(set())
    assert ownership.owner(0) is None  # unknown until the next assignment


def test_own_partitions_are_under_the_address_announced_now():
    """After a restart under a new address the group may hand back the previous assignment,
    made under the old one (platform/faust_patches.py): this replica knows better."""
    app = App()
    ownership = PartitionOwnership("credit", lambda: None)
    ownership.connect(app)
    ownership.advertise(app, "10.0.0.9:50052")
    assert str(app.conf.canonical_url) == "http://10.0.0.9:50052"
    app.assignor.group = {"http://10.0.0.5:50052": {"credit": [0, 1]}}
    app.on_partitions_assigned.send({TP("credit", 0), TP("credit", 1)})
    assert [ownership.owner(p) for p in (0, 1)] == ["10.0.0.9:50052"] * 2
