"""Prometheus metrics, prefixed ipcoord_, in seconds (Faust's own sensor uses ms, unprefixed)."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram, start_http_server

log = logging.getLogger(__name__)

EVENTS_CONSUMED = Counter(
    "ipcoord_events_consumed_total",
    "Envelopes decoded by a consumer",
    ["service", "topic", "event_type"],
)
EVENTS_PRODUCED = Counter(
    "ipcoord_events_produced_total", "Envelopes published", ["service", "topic", "event_type"]
)
DEAD_LETTERS = Counter(
    "ipcoord_dead_letters_total",
    "Records sent to the dead-letter topic",
    ["service", "error_class"],
)
EVENT_SECONDS = Histogram(
    "ipcoord_event_processing_seconds", "Time to handle one consumed record", ["service", "topic"]
)
GRPC_REQUESTS = Counter(
    "ipcoord_grpc_requests_total",
    "gRPC calls by method and status code",
    ["service", "method", "code"],
)
GRPC_SECONDS = Histogram("ipcoord_grpc_seconds", "gRPC call duration", ["service", "method"])


def serve_metrics(port: int | None) -> None:
    """Expose /metrics on ``port`` (None: metrics are collected but not served)."""
    if port is None:
        return
    start_http_server(port)
    log.info("metrics served", extra={"port": port})
