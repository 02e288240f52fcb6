"""What a consumer group has committed, read from the broker."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from ipcoord.platform import kafka_client
from ipcoord.platform.settings import Settings


async def committed_offsets(settings: Settings, group_id: str) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the next offset the group will read; partitions the group never
    committed are absent."""
    admin = AIOKafkaAdminClient(**kafka_client.connection(settings), request_timeout_ms=10_000)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    return {
        (tp.topic, tp.partition): meta.offset for tp, meta in offsets.items() if meta.offset >= 0
    }
