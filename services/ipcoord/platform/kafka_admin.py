"""Topic creation and removal from the registry, with kafka-python's admin client."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from ipcoord.platform.settings import Settings
from ipcoord.platform.topics import TOPICS, TopicSpec, full_name

log = logging.getLogger(__name__)


def admin_client(settings: Settings, timeout_ms: int = 10_000) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.topic_prefix}ipcoord-admin",
        request_timeout_ms=timeout_ms,
        # An unreachable broker is reported after this long, not kafka-python's default 30 s.
        bootstrap_timeout_ms=timeout_ms,
    )


def ensure_topics(
    settings: Settings, specs: Iterable[TopicSpec] = TOPICS, replication_factor: int = 1
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
    if not specs:
        return
    names = [full_name(s, settings.topic_prefix) for s in specs]
    current = {t["topic"]: len(t["partitions"]) for t in admin.describe_topics(names)}
    grow = {
        full_name(s, settings.topic_prefix): NewPartitions(s.partitions)
        for s in specs
        if current.get(full_name(s, settings.topic_prefix), s.partitions) < s.partitions
    }
    if grow:
        admin.create_partitions(grow)


def describe_topics(settings: Settings) -> list[dict]:
    admin = admin_client(settings)
    try:
        names = [full_name(s, settings.topic_prefix) for s in TOPICS]
        present = set(admin.list_topics())
        return admin.describe_topics([n for n in names if n in present])
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
