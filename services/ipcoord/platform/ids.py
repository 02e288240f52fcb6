"""Identifiers: time-ordered event ids and W3C trace context."""

from __future__ import annotations

import re
import secrets
import uuid

import uuid6


def new_event_id() -> str:
    """A UUIDv7 (RFC 9562): sorts by creation time, so logs and ids read in order."""
    return str(uuid6.uuid7())


_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def new_traceparent(parent: str | None = None) -> str:
    """A W3C traceparent for a new span; continues the trace of ``parent`` when it is valid."""
    trace_id = None
    if parent:
        match = _TRACEPARENT.match(parent.strip())
        if match and match.group(1) != "0" * 32:
            trace_id = match.group(1)
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def trace_id_of(traceparent: str | None) -> str | None:
    match = _TRACEPARENT.match((traceparent or "").strip())
    return match.group(1) if match else None


# Fixed namespace of ipcoord's derived ids (RFC 9562 name-based UUIDs).
_DERIVED = uuid.UUID("5b0e8c1e-2f43-4c55-9a51-6f1d0c1b7a10")


def derived_event_id(cause_id: str, position: int) -> str:
    """The id of the ``position``-th fact of the command ``cause_id``: the same command handled
    again (a redelivery after a crash or rebalance) yields the same ids, so consumers can drop
    the repeats by event id.

    When the command's id is a UUIDv7, the fact's id (a UUIDv8, RFC 9562's custom layout)
    keeps its first 64 bits (time and sub-millisecond order) and then the position, so facts
    sort like the commands that caused them, as new UUIDv7 ids did; a hash of the name fills
    the rest. Other command ids give a plain UUIDv5."""
    digest = uuid.uuid5(_DERIVED, f"{cause_id}/{position}").bytes
    try:
        cause = uuid.UUID(cause_id)
    except ValueError:
        return str(uuid.UUID(bytes=digest))
    if cause.version != 7 or not 0 <= position < 1 << 14:
        return str(uuid.UUID(bytes=digest))
    head = bytearray(cause.bytes[:8])
    head[6] = (head[6] & 0x0F) | 0x80  # version 8
    tail = bytes([0x80 | position >> 8, position & 0xFF]) + digest[10:]  # variant 10
    return str(uuid.UUID(bytes=bytes(head) + tail))
