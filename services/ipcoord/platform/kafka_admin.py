"""Topic creation and removal from the registry, with kafka-python's admin client."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from ipcoord.platform import kafka_client
from ipcoord.platform.settings import Settings
from ipcoord.platform.topics import TOPICS, TopicSpec, full_name

log = logging.getLogger(__name__)


def admin_client(settings: Settings, timeout_ms: int = 10_000) -> KafkaAdminClient:
    return KafkaAdminClient(
        **kafka_client.connection(settings),
        client_id=f"{settings.topic_prefix}ipcoord-admin",
        request_timeout_ms=timeout_ms,
        # An unreachable broker is reported after this long, not kafka-python's default 30 s.
        bootstrap_timeout_ms=timeout_ms,
    )


def ensure_topics(
    settings: Settings, specs: Iterable[TopicSpec], replication_factor: int = 1
) -> list[str]:
    """Create missing topics; add partitions where the registry asks for more. Idempotent.

    Returns the names created."""
    specs = list(specs)
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        wanted = [s for s in specs if full_name(s, settings.topic_prefix) not in existing]
        created = []
        for spec in wanted:
            name = full_name(spec, settings.topic_prefix)
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name, spec.partitions, replication_factor, topic_configs=spec.config()
                        )
                    ]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # another process created it between list and create
        _grow_partitions(admin, settings, [s for s in specs if s not in wanted])
        if created:
            log.info("created topics", extra={"topics": created})
        return created
    finally:
        admin.close()


def _grow_partitions(admin: KafkaAdminClient, settings: Settings, specs: list[TopicSpec]) -> None:
    names = {full_name(s, settings.topic_prefix): s.partitions for s in specs}
    current = _partition_counts(admin, list(names))
    # Kafka can only add partitions; a registry asking for fewer than exist is left alone.
    grow = {name: wanted for name, wanted in names.items() if current.get(name, wanted) < wanted}
    if grow:
        # kafka-python 3 takes the new total as an int (NewPartitions is deprecated).
        admin.create_partitions(grow)
        log.info("added partitions", extra={"topics": grow})


def _partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partitions per topic on the broker, for the names that exist there.

    kafka-python 3 returns the Metadata response as dicts: each topic is
    {"name", "error_code", "partitions": [{"partition_index", ...}], ...} (2.x had "topic").
    A topic that does not exist (or was deleted since list_topics) still comes back, with
    UNKNOWN_TOPIC_OR_PARTITION and no partitions; it is left out rather than counted as 0."""
    if not names:
        return {}  # nothing to ask the broker
    return {
        t["name"]: len(t["partitions"])
        for t in admin.describe_topics(names)
        if t["error_code"] == 0
    }


def describe_topics(settings: Settings, specs: Iterable[TopicSpec] = TOPICS) -> dict[str, int]:
    """Partitions on the broker per topic of ``specs`` that exists there (full names)."""
    admin = admin_client(settings)
    try:
        names = [full_name(s, settings.topic_prefix) for s in specs]
        return _partition_counts(admin, names)
    finally:
        admin.close()


def delete_prefixed(settings: Settings) -> list[str]:
    """Delete every topic whose name starts with the settings' prefix (tests clean up with it)."""
    if not settings.topic_prefix:
        raise ValueError("refusing to delete topics without a topic prefix")
    admin = admin_client(settings)
    try:
        doomed = [t for t in admin.list_topics() if t.startswith(settings.topic_prefix)]
        if doomed:
            with contextlib.suppress(UnknownTopicOrPartitionError):
                admin.delete_topics(doomed)
        return doomed
    finally:
        admin.close()
