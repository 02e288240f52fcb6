"""Dead-letter records: anything a consumer cannot decode or validate goes here, with the reason,
so the sender can see what was wrong and the consumer keeps going. Nothing is dropped silently."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from ipcoord.platform import metrics
from ipcoord.v1 import envelope_pb2

log = logging.getLogger(__name__)

DeadLetter = envelope_pb2.DeadLetter

# (key, value) -> awaitable; the transport is the caller's (Faust topic, aiokafka producer).
# An oversized record is a reason to dead-letter; its copy must not be too large to publish.
MAX_ORIGINAL_BYTES = 256 * 1024

SendRaw = Callable[[bytes | None, bytes], Awaitable[object]]


def dead_letter(
    *,
    value: bytes | None,
    key: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    reason: str,
    error_class: str,
    rejected_by: str,
    now: datetime | None = None,
) -> DeadLetter:
    value = value or b""
    record = DeadLetter(
        original_value=value[:MAX_ORIGINAL_BYTES],
        original_size=len(value),
        original_truncated=len(value) > MAX_ORIGINAL_BYTES,
        original_key=key or b"",
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        reason=reason,
        error_class=error_class,
        rejected_by=rejected_by,
    )
    record.rejected_at.FromDatetime(now or datetime.now(UTC))
    # Best effort: let senders find their own records even when only the envelope header parsed.
    try:
        partial = envelope_pb2.Envelope()
        partial.ParseFromString(value)
        record.original_event_id = partial.event_id
        record.original_producer_bureau = partial.producer_bureau
    except Exception:
        pass
    return record


class DeadLetterSink:
    """Publishes dead letters; logs and counts each one."""

    def __init__(self, send: SendRaw, *, service: str) -> None:
        self._send = send
        self._service = service

    async def publish(self, record: DeadLetter) -> None:
        log.warning(
            "dead-lettered record",
            extra={
                "source_topic": record.source_topic,
                "source_partition": record.source_partition,
                "source_offset": record.source_offset,
                "error_class": record.error_class,
                "reason": record.reason,
            },
        )
        metrics.DEAD_LETTERS.labels(self._service, record.error_class).inc()
        await self._send(record.original_key or None, record.SerializeToString(deterministic=True))
