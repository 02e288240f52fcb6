"""Merging the decide and evolve tables of a service's sub-domains into one dispatch table."""

from __future__ import annotations

from collections.abc import Callable, Mapping


def one_handler_each(*tables: Mapping[type, Callable]) -> dict[type, Callable]:
    """The tables merged; a message type handled by two sub-domains is a bug, found at import."""
    merged: dict[type, Callable] = {}
    for table in tables:
        for message_type, handler in table.items():
            if message_type in merged:
                raise AssertionError(f"two handlers for {message_type.__name__}")
            merged[message_type] = handler
    return merged
