"""Which partitions of a writer's input this replica owns with current tables, from Faust's
rebalance signals: what a lookup asks before it reads local state.

Faust's own flags do not say it: ``recovery.completed`` is set after the process's first
recovery and never cleared, and ``recovery.in_recovery`` turns on only once the recovery task
has started, a moment after the partitions are assigned. In that moment a lookup would read
tables that do not yet hold what another replica wrote while it owned the partition (review of
issue 7: a case filed elsewhere missing from ListCases, a report filed twice instead of
linked). So: not current from the revocation or assignment until ``on_rebalance_complete``,
which Faust sends after recovery (or when none was needed), before it resumes the streams; and
``tables_changed`` is called at both ends, so that anything read or built in between is
dropped before the first command.

It also says which replica owns each partition: Faust's assignor hands every member the
assignment of the whole group, each member under the URL it announced
(``conf.canonical_url``). Each replica announces its gRPC address there (``advertise``), so a
lookup this replica cannot answer is forwarded to the owner (platform/forwarding.py)."""

from __future__ import annotations

from collections.abc import Callable

import faust
from aiokafka.partitioner import murmur2
from faust.types import TP
from yarl import URL


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key``: where its writer and its
    tables are."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class PartitionOwnership:
    def __init__(self, topic: str, tables_changed: Callable[[], None]) -> None:
        self._topic = topic
        self._tables_changed = tables_changed
        self._owned: frozenset[int] = frozenset()
        self._current = False
        self._app: faust.App | None = None
        self._owners: dict[int, str] = {}
        self._address: str | None = None

    def advertise(self, app: faust.App, address: str) -> None:
        """Announce this replica's gRPC address ("host:port") to the group; before it joins."""
        self._address = address
        app.conf.canonical_url = URL(f"http://{address}")

    def connect(self, app: faust.App) -> None:
        self._app = app
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_partitions_assigned.connect(self._on_assigned)
        app.on_rebalance_complete.connect(self._on_rebalance_complete)

    def current(self, partition: int) -> bool:
        """Whether this replica owns ``partition`` and its tables hold everything written."""
        rebalancing = self._app is not None and self._app.rebalancing
        return self._current and not rebalancing and partition in self._owned

    @property
    def owned(self) -> frozenset[int]:
        """The partitions the last assignment gave this replica."""
        return self._owned

    def owner(self, partition: int) -> str | None:
        """The gRPC address ("host:port") of the replica the last assignment gave ``partition``
        (None during a rebalance). It may be this replica, and it may still be recovering."""
        return self._owners.get(partition)

    def _on_revoked(self, sender, revoked, **kwargs) -> None:
        self._owned, self._current, self._owners = frozenset(), False, {}

    def _on_assigned(self, sender, assigned: set[TP], **kwargs) -> None:
        self._owned = frozenset(tp.partition for tp in assigned if tp.topic == self._topic)
        self._owners = self._group_owners()
        self._current = False
        # Another replica may have written the tables while this one did not own them.
        self._tables_changed()

    def _on_rebalance_complete(self, sender, **kwargs) -> None:
        # Recovery has written the changelog's values into the store behind every cache.
        self._tables_changed()
        self._current = True

    def _group_owners(self) -> dict[int, str]:
        # The assignor set the group's assignment before the consumer calls on_assigned.
        owners: dict[int, str] = {}
        for url, topics in self._app.assignor.external_topics_metadata().items():
            address = URL(url).raw_authority  # host:port, IPv6 hosts in brackets
            for partition in topics.get(self._topic, ()):
                owners[partition] = address
        if self._address is not None:
            # This replica's own partitions under the address it announces now (the group's
            # assignment may still carry one it announced before a restart: faust_patches.py).
            owners.update(dict.fromkeys(self._owned, self._address))
        return owners
