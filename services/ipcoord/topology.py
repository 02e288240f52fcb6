"""Every topic the system needs: the registry's (platform/topics.py) and each service's table
changelogs. Faust would create a changelog at its first start, but on a new cluster its
consumer group is then assigned before the topic's partitions are known, and the table's
replica serves keys while iterating none of them (intake enrolled no case in any special
action after such a start). Created up front, like every other topic, they exist before any
replica joins; and a cluster that forbids creating topics (Strimzi's KafkaTopic) lists them."""

from __future__ import annotations

from ipcoord.credit import replay as credit
from ipcoord.intake import replay as intake
from ipcoord.notifications import replay as notifications
from ipcoord.platform.replay import changelog
from ipcoord.platform.topics import TOPICS, TopicSpec

# Each service's stored tables and how to rebuild them from the log (its replay module:
# SERVICE, SOURCES, STORED, TABLE_PARTITIONS, rebuilt_tables), by service name.
REPLAYS = {module.SERVICE.value: module for module in (intake, credit, notifications)}


def changelog_topics() -> tuple[TopicSpec, ...]:
    return tuple(
        changelog(service.SERVICE, table, partitions)
        for service in REPLAYS.values()
        for table, partitions in service.TABLE_PARTITIONS.items()
    )


def all_topics() -> tuple[TopicSpec, ...]:
    return TOPICS + changelog_topics()


def read_by(service: str) -> tuple[TopicSpec, ...]:
    """Every topic ``service``'s consumers read: the registry's it consumes, and its own
    changelogs (what its replicas recover from)."""
    return tuple(spec for spec in all_topics() if service in spec.consumers)
